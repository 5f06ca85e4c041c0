# «Ассистанс» — gunicorn for trytond's WSGI application (trytond.application:app).
#
# Why gunicorn: a pre-fork server from PyPI in pure Python (nothing to
# compile, installed by requirements.txt like Tryton itself), whose master
# re-spawns a worker that dies or hangs past `timeout`, and restarts workers
# gracefully on SIGHUP (a new release of the modules) without dropping the
# operators' requests. uWSGI would do as well but needs a C build and its own
# configuration language; trytond's own server (werkzeug) is one process.
#
# Threads: the web client's live monitoring holds a request open on the bus
# (long polling, [bus] long_polling_timeout) — with sync workers each open tab
# would hold a whole process; gthread workers hold a thread.
import multiprocessing
import os

bind = os.environ.get('ASSISTANCE_BIND', '127.0.0.1:8000')
workers = int(os.environ.get(
        'ASSISTANCE_WEB_WORKERS', min(2 * multiprocessing.cpu_count() + 1, 9)))
worker_class = 'gthread'
threads = int(os.environ.get('ASSISTANCE_WEB_THREADS', 4))
# A request longer than this is killed and its worker replaced (the queue
# runs the long work: imports, letters, SMS).
timeout = 120
graceful_timeout = 30
keepalive = 5
# Workers are replaced now and then, so that memory never creeps up.
max_requests = 2000
max_requests_jitter = 200
# The pool of the database is loaded once in the master and shared by the
# forked workers (TRYTOND_DATABASE_NAMES names the databases).
preload_app = True
wsgi_app = 'trytond.application:app'
accesslog = os.environ.get('ASSISTANCE_ACCESS_LOG', '-')
errorlog = os.environ.get('ASSISTANCE_ERROR_LOG', '-')
loglevel = 'info'
proc_name = 'assistance-web'
