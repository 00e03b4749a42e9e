"""The mall's inner services: each a Flask API, a Celery worker and its own database."""
