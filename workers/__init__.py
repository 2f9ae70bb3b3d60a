"""Celery side of Athena: the app, the tasks, the stream worker."""
