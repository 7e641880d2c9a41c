"""Write the tokenizer golden fixtures from the ORIGINAL open_clip tokenizer.

    pip install --no-deps open_clip_torch==3.2.0   # plus ftfy, regex, numpy, torch
    python scripts/make_tokenizer_fixture.py            # -> tests/fixtures/tokenizer/
    python scripts/make_tokenizer_fixture.py --exhaustive /tmp/tok_exhaustive.json
        # optional: every code point in a few contexts, for the #[ignore]d
        # `exhaustive_code_points` test (EDGEPAINT_TOKENIZER_EXHAUSTIVE=path)

Files written (all consumed by tests/tokenizer_golden.rs):
- bpe_simple_vocab_16e6.txt.gz  copied from the open_clip package (MIT)
- golden.json   prompts, their cleaned text and their ids for several context
                lengths, straight from open_clip's SimpleTokenizer
- hf/merges.txt, hf/vocab.json  the same vocabulary in the Hugging Face layout
                (`#version` header; special tokens named <|startoftext|> and
                <|endoftext|>), as Stable Diffusion exports ship it
- html5_entities.json  Python's html.entities.html5 (the Rust side takes the
                table from the `entities` crate and checks it against this)
"""

from __future__ import annotations

import argparse
import gzip
import html.entities
import json
import os
import random
import shutil
import sys
import unicodedata

import ftfy

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import clip_tokenizer  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures", "tokenizer")
CONTEXT_LENGTHS = [77, 32, 8]

# ---------------------------------------------------------------------------
# Prompts

SUBJECTS = [
    "a red house", "an old lighthouse", "a small cat", "two dogs", "a robot",
    "a wooden boat", "a castle", "a fox", "an astronaut", "a bowl of ramen",
    "a vintage car", "a steam locomotive", "a girl with an umbrella",
    "a dragon", "a field of sunflowers", "a city skyline", "a waterfall",
    "a cup of coffee", "a bicycle", "a mountain cabin",
]
PLACES = [
    "on a snowy field at night", "in a misty forest", "under a starry sky",
    "by the sea at sunset", "in the desert", "on the moon", "in a busy market",
    "on a rainy street", "in a cozy kitchen", "next to a river",
    "inside a cathedral", "in the mountains at dawn",
]
STYLES = [
    "", ", oil painting", ", watercolor", ", 4k, highly detailed",
    ", studio ghibli style", ", trending on artstation", ", 35mm photo",
    ", pixel art", ", digital art, concept art", ", by greg rutkowski",
    ", cinematic lighting, 8k uhd", ", low poly", ", ukiyo-e",
]

HANDWRITTEN = [
    # plain scenes and casing
    "a red house on a snowy field at night",
    "A RED HOUSE ON A SNOWY FIELD AT NIGHT",
    "A Photograph Of An Astronaut Riding A Horse",
    "an astronaut riding a horse on mars, photorealistic",
    "a bowl of fruit",
    "masterpiece, best quality, 1girl, solo, long hair, looking at viewer",
    "(masterpiece:1.2), [cat|dog], {blue}, <lora:foo:0.8>",
    "lowres, bad anatomy, bad hands, text, error, missing fingers",
    "portrait of a woman, by Alphonse Mucha and Gustav Klimt",
    "hello world",
    "Hello, World!",
    # contractions
    "don't", "Don't", "DON'T", "it's", "It's a cat", "IT'S", "we're here",
    "they've gone", "I'm happy", "you'll see", "he'd go", "she's", "can't won't",
    "'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "''", "'", "rock 'n' roll",
    "the dog's bone", "o'clock", "'sting 'tis 'rex 'very 'mad 'lll 'dd",
    "it’s a cat", "don’t", "‘quoted’", "“double quoted”", "„German“ quotes",
    "ʼapostrophe modifier", "‛reversed‚", "‟x‟",
    # numbers
    "1234567890", "3.14159", "1,000,000 stars", "2nd place", "the 1990s",
    "4k 8k 16k", "1920x1080", "-42", "+7", "50%", "$100", "€20", "£5", "¥500",
    "12:30 pm", "2024-01-31", "v1.5", "sd-2.1", "0.5x", "007",
    "٣ arabic-indic digit", "१२३ devanagari digits", "½ ¼ ¾", "x² + y³",
    "Ⅻ roman numeral", "① circled", "①②③",
    # punctuation runs
    "!!!", "???", "...", "?!?!", "---", "***", "###", "a...b", "wow!!!!!!",
    "!@#$%^&*()_+-=[]{}|;':\",./<>?", "~~~///\\\\\\", "a--b__c", ":-) ;-( :D",
    "«guillemets»", "¿qué?", "¡hola!", "—em dash—", "–en dash–", "…ellipsis…",
    "•bullet", "†‡§¶", "©®™", "→←↑↓", "≠≤≥∞", "°C 20°", "@user #hashtag",
    "https://example.com/path?q=1&x=2", "user@example.com", "C:\\path\\file.txt",
    "`code` **bold** _italic_ ~~strike~~", "# Title\n## Sub", "<b>bold</b>",
    "<start_of_text>", "<end_of_text>", "a <start_of_text> b <end_of_text> c",
    "<START_OF_TEXT>", "!<start_of_text>", "<|startoftext|>", "<|endoftext|>",
    "<ſtart_of_text>", "'ſ", "'ſt", "<end_of_text",
    # accents and scripts
    "café", "naïve", "crème brûlée", "Ångström", "Zürich", "São Paulo",
    "Kraków", "Đà Nẵng", "Reykjavík", "façade", "piñata", "jalapeño",
    "cafe\u0301 (combining acute)", "e\u0301e\u0300e\u0302", "Ω ohm \u2126",
    "ß straße", "ẞ capital sharp s", "İstanbul", "ı dotless", "ΟΔΟΣ", "ὈΔΥΣΣΕΎΣ",
    "Σ alone", "σς", "Ελληνικά", "Москва зимой", "Київ", "ქართული",
    "Հայերեն", "עברית", "العربية", "مرحبا بالعالم", "हिन्दी", "বাংলা",
    "தமிழ்", "ไทย ภาษาไทย", "ລາວ", "ខ្មែរ", "မြန်မာ", "Tiếng Việt",
    "한국어 서울의 밤", "日本語の文章です", "ひらがな カタカナ", "ｶﾀｶﾅ half-width",
    "中文提示词：一只猫在雪地里", "繁體中文", "漢字", "𠀀 ext-b ideograph",
    "\u0345", "a\u0345b", "\u03b1\u0345", "ᾳ", "Kelvin \u212a", "ﬅ ligature",
    # emoji
    "😀", "a cat 🐱 on a mat", "🔥🔥🔥", "👍🏽", "👨‍👩‍👧‍👦 family", "🇯🇵 flag",
    "❤️", "✨ sparkles ✨", "🏳️‍🌈", "emoji🙂inside", "☕ coffee", "♥♦♣♠",
    # HTML entities
    "&amp;", "&lt;b&gt;", "fish &amp; chips", "Tom &amp; Jerry &lt;3",
    "&nbsp;space", "caf&eacute;", "&#39;quoted&#39;", "&#x27;hex&#x27;",
    "&NTILDE;", "&Ntilde;", "&ntilde;", "&ampfoo", "&amp;amp;", "&amp;amp;amp;",
    "&lt;b&gt; with < in line", "&copy; 2024", "&euro;100", "&hellip;",
    "&mdash;&ndash;", "&quot;hi&quot;", "&apos;", "&frac12;", "&FRAC12;",
    "&szlig;", "&SZLIG;", "&unknown;", "&#0;", "&#128;", "&#150;", "&#x80;",
    "&#65;&#66;&#67;", "&#xD800;", "&#99999999;", "&#1;", "&#x1F600;",
    "&notit;", "&not", "&gt &lt", "AT&T", "a & b", "&", "&;", "&#;", "&#x;",
    "&amp\n<i>&amp;</i>\n&amp;", "line one &amp;\nline two &lt;\n<tag>\n&gt;",
    "&ETH;", "&eth;", "&Aring;", "&aring;", "&ARING;", "&fflig;", "&FFLIG;",
    # ligatures, full-width
    "ﬁsh ﬂower", "ﬀ ﬃ ﬄ ﬆ", "Ĳssel ĳs", "ǅ ǈ ǋ", "ŉ",
    "ＡＢＣ　ｆｕｌｌ－ｗｉｄｔｈ", "１２３４", "ｈｅｌｌｏ，ｗｏｒｌｄ！", "（括弧）",
    "＂ｑｕｏｔｅ＂", "\uffe0\uffe1\uffe5", "ﾊﾟﾝ", "\uffe8\uffee",
    # whitespace and controls
    "tab\tseparated\twords", "new\nline", "windows\r\nline", "old mac\rline",
    "  leading and trailing  ", "multiple     spaces     here",
    "\t\n\r  \t", "a\u00a0b", "a\u2003b\u2009c", "a\u3000b", "a\u200bb zero width",
    "a\u200db", "a\u2028b\u2029c", "a\u0085b", "a\u000bb\u000cc",
    "\u001cinfo\u001dsep\u001e\u001f", "bell\u0007char", "nul\u0000char",
    "del\u007fchar", "\ufeffbom", "\u206ainvisible", "\ufff9anchor\ufffb",
    "\u001b[31mred text\u001b[0m", "\u001b[1;32mgreen\u001b[m", "esc\u001b alone",
    "c1\u0080\u0081\u008d\u009fchars", "\u0092quote\u0093", "soft\u00adhyphen",
    "rtl\u200fmark", "\ufffdreplacement", "",
    " ", "  ", "\n", "\t", ".", "a", "A", "I", "x", "\u3000",
    # long ones
    "a " * 100,
    "a very long prompt " * 20,
    ", ".join(f"tag{i}" for i in range(60)),
    "supercalifragilisticexpialidocious " * 5,
    "pneumonoultramicroscopicsilicovolcanoconiosis",
    "antidisestablishmentarianism",
    "x" * 300,
    "🐱" * 50,
    "日本" * 60,
    "word" + "!" * 200,
    "The quick brown fox jumps over the lazy dog. " * 8,
    "A highly detailed matte painting of a vast alien landscape with towering "
    "crystalline spires, bioluminescent flora, twin moons rising over a violet "
    "horizon, volumetric fog, god rays, intricate details, sharp focus, "
    "octane render, unreal engine 5, award winning, featured on artstation, "
    "by a renowned concept artist, ultra wide angle, 16:9 aspect ratio",
]

# Mojibake: ftfy.fix_encoding repairs these and the Rust port leaves that step
# out (see src/tokenizer/clean.rs); the filter below moves them, and anything
# else fix_encoding would change, to golden.json's "excluded" list.
MOJIBAKE = [
    "CafÃ©", "Ã¼ber cool", "â€œquotedâ€\x9d", "donâ€™t", "SchÃ¶ne GrÃ¼ÃŸe",
    "ÃƒÂ©", "The Mona Lisa doesnÃ¢â‚¬â„¢t have eyebrows.",
]

FUZZ_POOL = (
    list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
    + list("     ,.;:!?'\"-_()[]{}<>/\\|@#$%^&*+=~`")
    + list("éèêëàâäôöûüçñÉÀÇÑøåæœßÿ")
    + list("αβγΣσςжЖ日本語中文한국어ひらカタ")
    + ["😀", "🐱", "👍🏽", "\u200d", "\u0301", "\t", "\n", "\u3000", "Ａ", "１", "ﬁ",
       "“", "”", "’", "&amp;", "&lt;", "&#39;", "&eacute;", "\u00a0", "\u0345"]
)


def scene_prompts(rng: random.Random, n: int) -> list[str]:
    out = []
    for _ in range(n):
        out.append(f"{rng.choice(SUBJECTS)} {rng.choice(PLACES)}{rng.choice(STYLES)}")
    return out


def fuzz_prompts(rng: random.Random, n: int) -> list[str]:
    out = []
    for _ in range(n):
        k = rng.randint(1, 60)
        out.append("".join(rng.choice(FUZZ_POOL) for _ in range(k)))
    return out


def all_prompts() -> list[str]:
    rng = random.Random(1234)
    prompts = HANDWRITTEN + MOJIBAKE + scene_prompts(rng, 80) + fuzz_prompts(rng, 80)
    seen, unique = set(), []
    for p in prompts:
        if p not in seen:
            seen.add(p)
            unique.append(p)
    return unique


# ---------------------------------------------------------------------------


def changed_by_fix_encoding(text: str) -> bool:
    """Whether ftfy's mojibake repair (left out in Rust) changes the cleaning."""
    mod = clip_tokenizer.module()
    full = mod._clean_lower(text)
    without = mod.whitespace_clean(
        mod.html.unescape(mod.html.unescape(ftfy.fix_text(text, fix_encoding=False))).strip()
    ).lower()
    return full != without


def golden() -> dict:
    mod = clip_tokenizer.module()
    tok = clip_tokenizer.tokenizer()
    cases, excluded = [], []
    for text in all_prompts():
        if changed_by_fix_encoding(text):
            excluded.append({
                "text": text,
                "reason": "ftfy fix_encoding (mojibake repair) changes it; not ported",
            })
            continue
        bpe = tok.encode(text)
        case = {"text": text, "clean": mod._clean_lower(text), "bpe": bpe}
        for n in CONTEXT_LENGTHS:
            case[f"ids_{n}"] = [int(x) for x in clip_tokenizer.tokenize([text], n)[0]]
            case[f"truncated_{n}"] = len(bpe) + 2 > n
        cases.append(case)
    return {
        "generator": "scripts/make_tokenizer_fixture.py",
        "open_clip_torch": clip_tokenizer.OPEN_CLIP_VERSION,
        "ftfy": ftfy.__version__,
        "python": sys.version.split()[0],
        "unicodedata": unicodedata.unidata_version,
        "context_lengths": CONTEXT_LENGTHS,
        "pad_id": 0,
        "cases": cases,
        "excluded": excluded,
    }


def write_hf(out_dir: str) -> None:
    """The same vocabulary as Hugging Face's CLIPTokenizer files."""
    tok = clip_tokenizer.tokenizer()
    os.makedirs(out_dir, exist_ok=True)
    names = {"<start_of_text>": "<|startoftext|>", "<end_of_text>": "<|endoftext|>"}
    vocab = {names.get(k, k): v for k, v in tok.encoder.items()}
    with open(os.path.join(out_dir, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump(vocab, f, ensure_ascii=False, separators=(",", ":"))
    lines = gzip.open(clip_tokenizer.vocab_path()).read().decode("utf-8").split("\n")
    merges = lines[1:49152 - 256 - 2 + 1]
    with open(os.path.join(out_dir, "merges.txt"), "w", encoding="utf-8", newline="\n") as f:
        f.write("#version: 0.2\n")
        for m in merges:
            f.write(m + "\n")


def exhaustive(path: str) -> None:
    """Every code point alone, between letters and doubled: cleaned text, BPE
    ids, and whether the code point is assigned in this Python's Unicode
    database (characters newer than that are cased and classified by
    different Unicode versions in str.lower, the regex module and Rust, so
    open_clip's own result for them depends on the Python version)."""
    mod = clip_tokenizer.module()
    tok = clip_tokenizer.tokenizer()
    rows = []
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        c = chr(cp)
        for text in (c, f"a{c}b", f"{c}{c}."):
            assigned = unicodedata.category(c) != "Cn"
            rows.append([text, mod._clean_lower(text), tok.encode(text), assigned])
    with open(path, "w", encoding="utf-8") as f:
        json.dump(rows, f, ensure_ascii=False)
    print(f"wrote {len(rows)} rows to {path}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=OUT)
    ap.add_argument("--exhaustive", metavar="PATH", help="also write the per-code-point table")
    args = ap.parse_args()

    os.makedirs(args.out, exist_ok=True)
    shutil.copyfile(clip_tokenizer.vocab_path(), os.path.join(args.out, "bpe_simple_vocab_16e6.txt.gz"))
    g = golden()
    with open(os.path.join(args.out, "golden.json"), "w", encoding="utf-8") as f:
        # One case per line: readable diffs, small file.
        head = {k: v for k, v in g.items() if k not in ("cases", "excluded")}
        f.write(json.dumps(head, ensure_ascii=False)[:-1])
        for key in ("cases", "excluded"):
            f.write(f',\n"{key}": [\n')
            f.write(",\n".join(json.dumps(c, ensure_ascii=False) for c in g[key]))
            f.write("\n]")
        f.write("}\n")
    write_hf(os.path.join(args.out, "hf"))
    with open(os.path.join(args.out, "html5_entities.json"), "w", encoding="utf-8") as f:
        json.dump(html.entities.html5, f, ensure_ascii=False, indent=0, sort_keys=True)
        f.write("\n")
    print(f"{len(g['cases'])} golden cases, {len(g['excluded'])} excluded -> {args.out}")
    if args.exhaustive:
        exhaustive(args.exhaustive)


if __name__ == "__main__":
    main()
