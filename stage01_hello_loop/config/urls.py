"""Stage 1 serves no pages: the worker is a management command."""

urlpatterns = []
