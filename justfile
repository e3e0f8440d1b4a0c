# One recipe per thing a person does. Run from the repository root after installing (see README).
set shell := ["bash", "-euo", "pipefail", "-c"]

venv := ".venv/bin"

# Show the system do its job: index this repository on the embedded Postgres, then query the stored index.
demo:
    {{venv}}/python -m pipeline db start
    {{venv}}/python -m pipeline index .
    psql "$({{venv}}/python -m pipeline db url)" -v ON_ERROR_STOP=1 -c "SET search_path = pipeline" \
        -c "{{symbols_by_kind}}" -c "{{most_referenced}}" -c "{{packages}}"

symbols_by_kind := "SELECT r.full_name AS repository, fr.language, s.kind, count(*) AS symbols FROM repositories r JOIN snapshot_files f ON f.snapshot_id = r.current_snapshot_id JOIN file_results fr ON fr.id = f.file_result_id JOIN symbols s ON s.file_result_id = f.file_result_id GROUP BY 1, 2, 3 ORDER BY 1, 2, 4 DESC"
most_referenced := "SELECT tr.language, tf.path, s.name, s.kind, count(*) AS references_to_it FROM repositories r JOIN reference_links l ON l.snapshot_id = r.current_snapshot_id JOIN snapshot_files tf ON (tf.snapshot_id, tf.file_idx) = (l.snapshot_id, l.target_file_idx) JOIN file_results tr ON tr.id = tf.file_result_id JOIN symbols s ON (s.file_result_id, s.idx) = (tf.file_result_id, l.target_symbol_idx) WHERE s.kind IN ('function', 'method') GROUP BY 1, 2, 3, 4 ORDER BY 5 DESC, 2, 3 LIMIT 15"
packages := "SELECT d.package, d.is_builtin, max(d.version) AS version, count(DISTINCT d.file_idx) AS files FROM repositories r JOIN package_dependencies d ON d.snapshot_id = r.current_snapshot_id GROUP BY 1, 2 ORDER BY 4 DESC, 1 LIMIT 10"

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

# Build stages._native with AddressSanitizer and UBSan, then run the extraction tests and the property tests on it.
sanitize:
    #!/usr/bin/env bash
    set -euo pipefail
    build="$(mktemp -d)"
    trap 'rm -rf "$build"' EXIT
    mkdir "$build/stages"
    cp stages/*.py "$build/stages/" && cp -r stages/queries "$build/stages/"
    runtime=stages/native/tree-sitter
    include="$({{venv}}/python -c 'import sysconfig; print(sysconfig.get_paths()["include"])')"
    suffix="$({{venv}}/python -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')"
    gcc -std=c11 -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer \
        -shared -fPIC -fvisibility=hidden -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -DTREE_SITTER_HIDE_SYMBOLS \
        -Istages/native -I"$runtime/include" -I"$runtime/src" -I"$include" \
        stages/native/extract.c stages/native/match.c stages/native/syntax.c "$runtime/src/lib.c" -o "$build/stages/_native$suffix"
    # The sanitized package is imported before pytest puts the checkout first on sys.path, in this process (-n 0:
    # a pytest-xdist worker would import the checkout's).
    ASAN_OPTIONS=detect_leaks=0 LD_PRELOAD="$(gcc -print-file-name=libasan.so):$(gcc -print-file-name=libubsan.so)" \
        {{venv}}/python -c 'import sys; sys.path.insert(0, sys.argv[1]); import stages._native, stages.extract, pytest; \
        assert stages._native.__file__.startswith(sys.argv[1]); \
        sys.exit(pytest.main(["-q", "-n", "0", "-p", "no:cacheprovider", "tests/unit/stages", "tests/property/test_extract_properties.py"]))' \
        "$build"
