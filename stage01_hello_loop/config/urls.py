"""URLs: none yet; the worker is a management command."""

urlpatterns = []
