"""A .tflite model as a C array: ``model_data.h`` + ``model_data.c`` (``tinyml convert``).

The array is 16-byte aligned (TFLite Micro reads the flatbuffer in place and needs it), its
length is ``const unsigned int <symbol>_len``, and both files compile as C99 and C++ on host
and cross compilers without warnings. On AVR, const data is copied to RAM at start unless it
is marked ``PROGMEM``; define ``TINYML_MODEL_PROGMEM`` to keep the array in flash (then read it
with ``pgm_read_byte``: a plain pointer to it reads RAM, so this is opt-in).
"""

from __future__ import annotations

import re
from pathlib import Path

from tinyml.codegen.banner import banner
from tinyml.errors import ErrorKind, TinymlError
from tinyml.model.tflite import Model

HEADER = "model_data.h"
SOURCE = "model_data.c"
BYTES_PER_LINE = 12

# C11/C23 and C++ keywords: the header is included from both languages.
_KEYWORDS = frozenset(str.split("""
auto break case char const continue default do double else enum extern float for goto if inline int long
register restrict return short signed sizeof static struct switch typedef union unsigned void volatile while
_Alignas _Alignof _Atomic _Bool _Complex _Generic _Imaginary _Noreturn _Static_assert _Thread_local
alignas alignof bool constexpr false nullptr static_assert thread_local true typeof typeof_unqual _BitInt
_Decimal32 _Decimal64 _Decimal128 and and_eq asm bitand bitor catch char8_t char16_t char32_t class compl
concept consteval constinit const_cast co_await co_return co_yield decltype delete dynamic_cast explicit
export friend mutable namespace new noexcept not not_eq operator or or_eq private protected public
reinterpret_cast requires static_cast template this throw try typeid typename using virtual wchar_t xor xor_eq
"""))
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_HEX = [f"0x{b:02x}" for b in range(256)]


def check_symbol(symbol: str) -> str:
    """``symbol`` if it can name a C array in C and C++; a usage error otherwise."""
    if not _IDENT.match(symbol):
        raise TinymlError(f"'{symbol}' is not a valid C identifier",
                          hint="use letters, digits and underscores, not starting with a digit (e.g. g_model)",
                          kind=ErrorKind.USAGE)
    if symbol in _KEYWORDS:
        raise TinymlError(f"'{symbol}' is a C/C++ keyword", hint="choose another name, e.g. g_model",
                          kind=ErrorKind.USAGE)
    if symbol.startswith("__") or re.match(r"_[A-Z]", symbol):
        raise TinymlError(f"'{symbol}' is reserved for the compiler (leading __ or _ and a capital)",
                          hint="choose another name, e.g. g_model", kind=ErrorKind.USAGE)
    return symbol


def _array_body(raw: bytes) -> str:
    lines = []
    for start in range(0, len(raw), BYTES_PER_LINE):
        lines.append("    " + ", ".join(_HEX[b] for b in raw[start:start + BYTES_PER_LINE]) + ",")
    return "\n".join(lines)


def generate_c_array(model: Model, symbol: str = "g_model") -> dict[str, str]:
    """``{"model_data.h": ..., "model_data.c": ...}`` embedding ``model.raw`` as ``symbol``."""
    check_symbol(symbol)
    raw = model.raw
    guard = f"TINYML_{symbol.upper()}_MODEL_DATA_H"
    header = banner(model.sha256, f"{HEADER}: the {len(raw)}-byte .tflite model as the C array {symbol}") + f"""
#ifndef {guard}
#define {guard}

#ifdef __cplusplus
extern "C" {{
#endif

/* The .tflite flatbuffer, 16-byte aligned for TFLite Micro. */
extern const unsigned char {symbol}[];
/* Its length in bytes. */
extern const unsigned int {symbol}_len;

#ifdef __cplusplus
}}  /* extern "C" */
#endif

#endif /* {guard} */
"""
    source = banner(model.sha256, f"{SOURCE}: the {len(raw)}-byte .tflite model as the C array {symbol}") + f"""
#include "{HEADER}"

/* 16-byte alignment, spelled for the compiler at hand. */
#ifndef TINYML_DATA_ALIGN16
#if defined(__GNUC__) || defined(__clang__)
#define TINYML_DATA_ALIGN16 __attribute__((aligned(16)))
#elif defined(__cplusplus) && __cplusplus >= 201103L
#define TINYML_DATA_ALIGN16 alignas(16)
#elif defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L
#define TINYML_DATA_ALIGN16 _Alignas(16)
#elif defined(_MSC_VER)
#define TINYML_DATA_ALIGN16 __declspec(align(16))
#else
#define TINYML_DATA_ALIGN16
#endif
#endif

/* AVR copies const data to RAM unless it is PROGMEM: define TINYML_MODEL_PROGMEM to keep the
 * model in flash, and read it with pgm_read_byte() (a plain pointer would read RAM). */
#if defined(__AVR__) && defined(TINYML_MODEL_PROGMEM)
#include <avr/pgmspace.h>
#define TINYML_DATA_STORAGE PROGMEM
#else
#define TINYML_DATA_STORAGE
#endif

TINYML_DATA_ALIGN16 const unsigned char {symbol}[] TINYML_DATA_STORAGE = {{
{_array_body(raw)}
}};

const unsigned int {symbol}_len = {len(raw)}u;
"""
    return {HEADER: header, SOURCE: source}


def convert_to_c(model_path: str | Path, out_dir: str | Path = ".", symbol: str = "g_model") -> list[Path]:
    """Read a .tflite and write ``model_data.h``/``.c`` into ``out_dir`` (created if its parent exists).

    Existing other files in ``out_dir`` are kept; the two files are replaced atomically.
    """
    from tinyml.model.tflite import load
    from tinyml.writer import write_tree

    check_symbol(symbol)
    model = load(model_path)
    files = generate_c_array(model, symbol)
    dest = Path(out_dir)
    if dest.exists() and not dest.is_dir():
        raise TinymlError(f"{dest} exists and is not a directory", hint="pass a directory to -o",
                          kind=ErrorKind.OUTPUT)
    try:
        root = write_tree(dest, files, merge=True)
    except OSError as exc:  # e.g. creating the directory on a read-only file system
        raise TinymlError(f"cannot write into {dest}: {exc.strerror or exc}", hint="choose a writable output path",
                          kind=ErrorKind.OUTPUT) from exc
    return [root / name for name in files]
