"""Stage 5's dashboard in a real headless browser: it shows the queue's numbers and keeps them
current without a reload. And what a task carries is shown escaped in the admin."""

import pytest
from django.test import Client
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from taskqueue.enqueue import enqueue
from taskqueue.models import Task
from taskqueue.worker import Worker

pytestmark = pytest.mark.django_db(transaction=True)

HOSTILE = "<script>document.title='pwned'</script><img src=x onerror=alert(1)>"


def shows(browser, element_id: str, text: str, timeout: float = 15) -> None:
    """Wait until the element's text is `text` (the page refreshes itself every 2 s)."""
    WebDriverWait(browser, timeout).until(
        lambda driver: driver.find_element(By.ID, element_id).text == text,
        message=f"#{element_id} never showed {text!r}",
    )


def log_in(browser, live_server, user) -> None:
    client = Client()
    client.force_login(user)
    browser.get(f"{live_server.url}/admin/login/")  # a page of the site, to set its cookie
    browser.add_cookie({"name": "sessionid", "value": client.cookies["sessionid"].value})


def test_the_dashboard_shows_the_queue_and_keeps_up_with_it(browser, live_server, admin_user):
    for _ in range(3):
        enqueue("noop")
    log_in(browser, live_server, admin_user)

    browser.get(f"{live_server.url}/dashboard/")

    assert browser.title == "Task queue"
    shows(browser, "queued", "3")
    enqueue("noop")
    enqueue("noop")
    shows(browser, "queued", "5")  # no reload: the page fetched /health/ again by itself
    Worker(burst=True).run()
    shows(browser, "queued", "0")
    assert browser.find_element(By.ID, "tasks_per_second").text != "0"
    assert "updated" in browser.find_element(By.ID, "status").text


def test_html_in_arguments_and_errors_is_shown_escaped_in_the_admin(
    browser, live_server, admin_user
):
    task = enqueue("greet", {"name": HOSTILE})
    Task.objects.filter(pk=task.pk).update(status="FAILED", error=HOSTILE)
    log_in(browser, live_server, admin_user)

    browser.get(f"{live_server.url}/admin/taskqueue/task/{task.pk}/change/")

    assert "pwned" not in browser.title  # the script did not run
    assert HOSTILE in browser.find_element(By.TAG_NAME, "body").text  # shown, as text
