# liaison-bot: `make run` sets up and starts the bot; `make test` sets up the test peers and runs every test.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed
CATALOGS := $(wildcard handlers/locales/*/LC_MESSAGES/liaison.po)

.PHONY: run test install catalogs fonts catalogs-update merge-driver migrate lint peers bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(STAMP): $(PY) pyproject.toml
	$(PIP) install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP) catalogs fonts

catalogs: $(STAMP)
	@$(VENV)/bin/pybabel --quiet compile -d handlers/locales -D liaison

# Charts draw Chinese: install a CJK font (Debian's fonts-noto-cjk) when matplotlib finds none.
fonts: $(STAMP)
	$(PY) tools/cjk_font.py

migrate: install
	$(VENV)/bin/liaison-bot db upgrade

run: install
	@$(VENV)/bin/liaison-bot run

peers: install
	$(PY) -m tests.peers.synapse install

lint: install
	$(VENV)/bin/ruff check .

# One test worker per core, at most 4 (each worker that runs Matrix tests starts its own Synapse).
TEST_WORKERS ?= $(shell n=$$(nproc 2>/dev/null || echo 2); [ $$n -gt 4 ] && n=4; echo $$n)

test: install peers
	$(VENV)/bin/ruff check .
	$(VENV)/bin/pytest -q -n $(TEST_WORKERS) --dist worksteal

bench: install peers
	$(PY) -m bench

clean:
	rm -rf $(VENV) .venv-synapse build *.egg-info

# Developers: re-extract the msgids (the zh_CN text), merge them into every catalog, fill zh_TW by OpenCC.
catalogs-update: $(STAMP)
	$(VENV)/bin/pybabel extract -F babel.cfg --no-location --sort-output --no-wrap -o handlers/locales/liaison.pot bot handlers schedules
	for lang in zh_CN zh_TW en; do \
	  if [ -f handlers/locales/$$lang/LC_MESSAGES/liaison.po ]; then \
	    $(VENV)/bin/pybabel update --no-wrap --ignore-obsolete --ignore-pot-creation-date -i handlers/locales/liaison.pot -d handlers/locales -D liaison -l $$lang; \
	  else \
	    $(VENV)/bin/pybabel init -i handlers/locales/liaison.pot -d handlers/locales -D liaison -l $$lang; \
	  fi; \
	done
	$(PY) tools/fill_zh_tw.py

# Developers with parallel branches: merge the catalogs message by message (tools/merge_catalog.py).
merge-driver: $(STAMP)
	git config merge.catalog.name "gettext catalog union"
	git config merge.catalog.driver "$(abspath $(PY)) tools/merge_catalog.py %O %A %B"
