"""Which long-lined blobs the fetcher skips as minified: minified code, not every file with long lines."""

from __future__ import annotations

import time
from pathlib import Path

from stages.fetch.blobs import MINIFIED_PROBE_BYTES, content_skip_reason

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "minified"


def bundle(modules: int) -> bytes:
    """Minifier-shaped code (merged declarations, one-letter names, `!0`, `void 0`, comma expressions), one line."""
    parts = ['!function(e,t){"object"==typeof exports?module.exports=t():e.lib=t()}(this,function(){"use strict";']
    for n in range(modules):
        parts.append(
            f"var a{n}=Object.defineProperty,b{n}=function(e,t){{for(var r in t)a{n}(e,r,{{get:t[r],enumerable:!0}})}};"
            f"function c{n}(e,t,r){{var o,i,u={{}},s=0;if(Array.isArray(t)){{for(o=e.length,i=t.length;s<i;s++)"
            f'u[t[s]]=e[t[s]]||r;return u}}return void 0!==r?e[t]=r:e[t]}}b{n}(c{n},{{x:function(){{return"m{n}"}}}});'
        )
    parts.append("return{}});")
    return "".join(parts).encode()


def test_minified__a_real_minified_library_is_minified() -> None:
    data = (FIXTURES / "isexe-4.0.0-esm-index.min.js").read_bytes()
    assert content_skip_reason(data) == "minified"


def test_minified__a_bundle_on_one_line_is_minified_however_large() -> None:
    assert content_skip_reason(bundle(10)) == "minified"
    assert len(bundle(1000)) > MINIFIED_PROBE_BYTES
    assert content_skip_reason(bundle(1000)) == "minified"


def test_minified__a_barrel_of_export_star_lines_on_long_lines_is_source() -> None:
    one_line = "".join(f'export * from "./components/widget{n}";' for n in range(300)).encode()
    spaced = "\n".join(" ".join(f'export * from "./m{row}_{n}";' for n in range(20)) for row in range(40)).encode()
    assert content_skip_reason(one_line) is None
    assert content_skip_reason(spaced) is None


def test_minified__a_long_export_list_is_source() -> None:
    names = ", ".join(f"createWidget{n}" for n in range(400))
    data = f'export {{ {names} }} from "./widgets";\nexport type {{ {names} }} from "./types";\n'.encode()
    assert content_skip_reason(data) is None


def test_minified__long_strings_and_data_tables_are_source() -> None:
    wasm = b'module.exports = "' + b"AGFzbQEAAAABhQEUYAF/AX9gAn9/" * 2000 + b'";\n'
    numbers = b"export const table = [" + b",".join(str(n * 7919 % 65536).encode() for n in range(3000)) + b"];\n"
    words = b"export const words = [" + b",".join(b'"word%d"' % n for n in range(3000)) + b"];\n"
    assert content_skip_reason(wasm) is None
    assert content_skip_reason(numbers) is None
    assert content_skip_reason(words) is None


def test_minified__short_lines_are_never_minified() -> None:
    assert content_skip_reason(b"var a=1;\n" * 400) is None


def test_minified__quotes_and_backslashes_cannot_make_the_measure_slow() -> None:
    started = time.monotonic()
    for data in (b'"\\' * 100_000, b"`\\" * 100_000, b"'\\" * 100_000, b"\"'`" * 70_000):
        content_skip_reason(data)
    assert time.monotonic() - started < 1.0
