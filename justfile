# One recipe per thing a person does. Run from the repository root after installing (see README).
set shell := ["bash", "-euo", "pipefail", "-c"]

venv := ".venv/bin"

# Show the system do its job on the embedded Postgres.
demo:
    {{venv}}/python -m pipeline db start
    {{venv}}/python -m pipeline db status

# Lint, type-check, check import contracts, then run the whole test suite.
test: lint
    {{venv}}/python -m pytest

# ruff (lint + format), mypy (strict) and import-linter contracts.
lint:
    {{venv}}/ruff check .
    {{venv}}/ruff format --check .
    {{venv}}/mypy
    {{venv}}/lint-imports

# Start the embedded Postgres (initialised on first use) and print its URL.
db:
    {{venv}}/python -m pipeline db start
    {{venv}}/python -m pipeline db url
