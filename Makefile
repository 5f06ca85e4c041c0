# «Ассистанс» — set-up, demo and tests.  `make demo` and `make test` are all a
# new machine needs (Debian, Python 3.11, npm; PostgreSQL for the tests).
SHELL := /bin/bash
PYTHON ?= python3
VENV := $(CURDIR)/.venv
PY := $(VENV)/bin/python
SAO_VERSION := 8.0.11
SAO := $(CURDIR)/var/sao
DB ?= assistance
PG_URI ?= postgresql://postgres@127.0.0.1:5432/
export TRYTOND_DATABASE__PATH := $(CURDIR)/var/db
export TRYTOND_WEB__ROOT := $(SAO)

.PHONY: demo demo-reset demo-pg test install sao browser kannel postgresql serve clean bench bench-install prod prod-stop prod-status backup restore

install: $(VENV)/.installed

$(VENV)/.installed: requirements.txt pyproject.toml setup.py $(wildcard addons/*/tryton.cfg)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt -e .
	touch $@

# The web client, of the same series as the server, with our Russian strings
# and our scripts (live monitoring, the pivot) as sao's customisation hook
# custom.js.
sao: $(SAO)/.installed $(SAO)/custom.js

$(SAO)/.installed: webclient/locale/ru.json
	rm -rf $(SAO) var/sao-pack && mkdir -p var/sao-pack
	cd var/sao-pack && npm pack -q tryton-sao@$(SAO_VERSION) && tar xzf tryton-sao-$(SAO_VERSION).tgz
	mv var/sao-pack/package $(SAO) && rm -rf var/sao-pack
	cd $(SAO) && npm install -q --omit=dev --legacy-peer-deps --no-audit --no-fund
	cp webclient/locale/ru.json $(SAO)/locale/ru.json
	touch $@

$(SAO)/custom.js: webclient/live.js webclient/pivot.js $(SAO)/.installed
	cat webclient/live.js webclient/pivot.js > $@

demo: install sao
	$(PY) tools/demo.py -d $(DB)
	$(MAKE) --no-print-directory serve

demo-reset: install sao
	$(PY) tools/demo.py -d $(DB) --reset
	$(MAKE) --no-print-directory serve

serve:
	@echo "Web client: http://127.0.0.1:8000/  login: admin  password: admin  (database $(DB))"
	$(VENV)/bin/trytond -c config/trytond.conf -d $(DB)

demo-pg: install sao postgresql
	$(PY) tools/demo.py -c config/trytond-postgresql.conf -d $(DB)
	@echo "Web client: http://127.0.0.1:8000/  login: admin  password: admin  (PostgreSQL database $(DB))"
	$(VENV)/bin/trytond -c config/trytond-postgresql.conf -d $(DB)

# The production layout on this machine (config/trytond-production.conf,
# tools/prod.py): PostgreSQL, gunicorn with several trytond workers,
# trytond-worker (queue) and trytond-cron, restarted if they stop; logs in
# var/log/. `make prod DEMO=1` loads the demo into a new database;
# without it a new database is created empty (ASSISTANCE_ADMIN_PASSWORD).
PROD_DB ?= assistance_prod
prod: install sao postgresql
	$(PY) tools/prod.py init -d $(PROD_DB) $(if $(DEMO),--demo)
	$(PY) tools/prod.py start -d $(PROD_DB)

prod-stop:
	$(PY) tools/prod.py stop

prod-status:
	$(PY) tools/prod.py status

# Backup: the database (pg_dump) and its attachments in one archive;
# restore into a new database: `make restore BACKUP=file DB_NEW=name`.
backup:
	mkdir -p var/backup
	$(PY) tools/prod.py backup -d $(PROD_DB) -o var/backup/$(PROD_DB)-$$(date +%Y%m%d-%H%M%S).tar

restore:
	$(PY) tools/prod.py restore -i $(BACKUP) -d $(DB_NEW)

postgresql:
	@tools/ensure_postgresql.sh $(PG_URI)

# Headless Chromium (Debian) and playwright-core (npm) for the browser tests.
browser: tests/browser/node_modules/.installed

tests/browser/node_modules/.installed: tests/browser/package.json
	command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }
	cd tests/browser && npm install -q --no-audit --no-fund
	touch $@

# Kannel (Debian) for the SMS test: bearerbox, smsbox and kannel-extras'
# fakesmsc. The test runs its own boxes on free loopback ports; the service
# Debian may start on installing is stopped (it only runs a wapbox anyway).
kannel:
	@test -x /usr/sbin/bearerbox && test -x /usr/sbin/smsbox && test -x /usr/lib/kannel/test/fakesmsc || { \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kannel kannel-extras >/dev/null \
		&& { invoke-rc.d kannel stop >/dev/null 2>&1 || true; }; }

# Benchmarks' extra (Faker for realistic Russian names) and the local
# PostgreSQL they run on; `make bench` runs every benchmark of the README.
bench-install: $(VENV)/.bench-installed

$(VENV)/.bench-installed: $(VENV)/.installed pyproject.toml
	$(PY) -m pip install -q -e '.[bench]'
	touch $@

BENCHES ?= coverage_check identify import_policies provider_select billing reports load

bench: bench-install postgresql
	set -e; for b in $(BENCHES); do echo "=== bench/$$b.py"; $(PY) bench/$$b.py; done

test: install sao browser kannel postgresql
	PG_URI=$(PG_URI) $(PY) tests/run_suite.py $(ARGS)

clean:
	rm -rf var .cache
