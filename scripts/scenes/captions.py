"""Captions of the scenes world (docs/scenes.md vocabulary) and their parser.

caption(attrs, rng) builds a caption from phrases, one per stated attribute,
in random order, with filler words only from the docs/scenes.md list. Grammar
facts that parse_caption relies on:
  * time and ground are always stated;
  * a colour word comes immediately before its object noun ("a red house");
  * a place phrase ("on the left", "on the right", "in the middle",
    "in the center") comes immediately after the noun it places (sun/moon or
    the object noun);
  * body place "center" is stated in about half of the captions with a body
    (it is the default); object place is stated in 85 % of the captions with
    an object (when omitted the renderer still picks left or right at random);
  * weather "clear" is stated in about 20 % of clear captions.

parse_caption(text) -> dict with all nine keys: values fixed by the caption
(defaults applied where docs/scenes.md defines one) or None where the caption
leaves the value open (time/ground missing, object colour missing, object
place not said).
"""

import re

TIME_WORDS = {"day": ["day", "daytime", "noon", "sunny day"],
              "sunset": ["sunset", "dusk", "evening"],
              "night": ["night", "nighttime", "midnight"]}
GROUND_WORDS = {"grass": ["grass", "meadow", "green field", "grassland"],
                "desert": ["desert", "sand", "dunes"],
                "snow": ["snow", "snowy field", "winter"],
                "sea": ["sea", "ocean", "lake", "water"]}
BODY_WORDS = {"sun": ["sun"], "moon": ["moon", "full moon"]}
LAND_WORDS = {"mountains": ["mountains", "mountain", "peaks"], "hills": ["hills", "hill"]}
OBJ_WORDS = {"house": ["house", "cabin", "cottage"], "tree": ["tree"], "boat": ["boat", "sailboat"]}
PLACE_PHRASES = {"left": ["on the left"], "right": ["on the right"],
                 "center": ["in the middle", "in the center"]}
OPENERS = ["", "", "", "", "", "", "a picture of", "a scene of", "view of", "a view of", "picture of", "scene of",
           "a scene with", "picture:"]
FILLERS = {"a", "the", "with", "on", "under", "at", "in", "and", "over", "by", "of", "picture", "scene", "view"}
COLORS = ["red", "blue", "yellow", "white", "black", "orange", "purple", "green"]


def _pick(rng, xs):
    return xs[int(rng.random() * len(xs))]


def _join(*parts):
    return " ".join(p for p in parts if p)


TIME_FOLLOW = {
    "day": ["at noon", "by day", "in the daytime", "on a sunny day", "in the day", "at daytime", "at day"],
    "sunset": ["at sunset", "at dusk", "in the evening", "at evening", "by sunset"],
    "night": ["at night", "at midnight", "by night", "in the night", "at nighttime"],
}
ARTICLES = ["a", "the", ""]


def _art(rng, word):
    """Optional article for a noun (plural-ish words get 'the' or nothing)."""
    a = _pick(rng, ARTICLES)
    if a == "a" and word in ("dunes", "sand", "snow", "water", "grass", "grassland", "winter", "mountains",
                             "peaks", "hills", "clouds"):
        a = "the"
    return _join(a, word)


def _phrases(attrs, rng):
    """Per stated attribute: (lead form, follow form)."""
    out = []
    t = attrs["time"]
    out.append((_pick(rng, TIME_WORDS[t]), _pick(rng, TIME_FOLLOW[t])))
    gw = _pick(rng, GROUND_WORDS[attrs["ground"]])
    out.append((_art(rng, gw), _join(_pick(rng, ["on", "in", "over", "by", "on", "in"]), _art(rng, gw))))
    if attrs["body"] != "none":
        bp = attrs["body_place"]
        place = ""
        if bp != "center" or rng.random() < 0.5:
            place = _pick(rng, PLACE_PHRASES[bp])
        noun = _join(_pick(rng, ["the", "a", "the"]), _pick(rng, BODY_WORDS[attrs["body"]]), place)
        out.append((noun, _join(_pick(rng, ["under", "with", "and", "by", "under"]), noun)))
    if attrs["land"] != "none":
        lw = _art(rng, _pick(rng, LAND_WORDS[attrs["land"]]))
        out.append((lw, _join(_pick(rng, ["with", "and", "by", "in", "over", "with"]), lw)))
    if attrs["weather"] == "cloudy":
        out.append((_pick(rng, ["cloudy", "clouds"]),
                    _pick(rng, [", cloudy", "with clouds", "under clouds", "and clouds", "under the clouds",
                                "cloudy", "with the clouds", ", clouds"])))
    elif rng.random() < 0.2:
        out.append(("clear", _pick(rng, [", clear", "and clear", "clear"])))
    if attrs["obj"] != "none":
        color = attrs["color"] if attrs["color"] != "none" else ""
        place = _pick(rng, PLACE_PHRASES[attrs["obj_place"]]) if rng.random() < 0.85 else ""
        noun = _join(_pick(rng, ["a", "the", "a"]), color, _pick(rng, OBJ_WORDS[attrs["obj"]]), place)
        out.append((noun, _join(_pick(rng, ["with", "and", "by", "with"]), noun)))
    return out


def caption(attrs, rng):
    """A random caption for a full attrs dict (see module doc for the grammar)."""
    phrases = _phrases(attrs, rng)
    order = list(range(len(phrases)))
    for i in range(len(order) - 1, 0, -1):
        j = int(rng.random() * (i + 1))
        order[i], order[j] = order[j], order[i]
    parts = [phrases[order[0]][0]]
    for k in order[1:]:
        f = phrases[k][1]
        if f.startswith(","):
            parts[-1] += f[0]
            f = f[2:]
        elif rng.random() < 0.15:
            parts[-1] += ","
        parts.append(f)
    text = _join(_pick(rng, OPENERS), " ".join(parts))
    text = re.sub(r"\s+", " ", text).strip()
    text = re.sub(r"\b(\w+) \1\b", r"\1", text)  # "a picture of a a house" -> "... a house"
    text = re.sub(r"\ba the\b|\bthe a\b", "the", text)
    text = re.sub(r"\ba (?=[aeiou])", "the ", text)  # no "an" in the vocabulary
    return text


# ---------------------------------------------------------------- parser

_MULTI = {"sunny day": "sunny_day", "green field": "green_field", "snowy field": "snowy_field",
          "full moon": "full_moon"}
_WORD_TIME = {w.replace(" ", "_"): t for t, ws in TIME_WORDS.items() for w in ws}
_WORD_GROUND = {w.replace(" ", "_"): g for g, ws in GROUND_WORDS.items() for w in ws}
_WORD_BODY = {w.replace(" ", "_"): b for b, ws in BODY_WORDS.items() for w in ws}
_WORD_LAND = {w: l for l, ws in LAND_WORDS.items() for w in ws}
_WORD_OBJ = {w: o for o, ws in OBJ_WORDS.items() for w in ws}
_WORD_WEATHER = {"cloudy": "cloudy", "clouds": "cloudy", "clear": "clear"}
_PLACE = {("on", "the", "left"): "left", ("on", "the", "right"): "right",
          ("in", "the", "middle"): "center", ("in", "the", "center"): "center"}

VOCABULARY = (set(_WORD_TIME) | set(_WORD_GROUND) | set(_WORD_BODY) | set(_WORD_LAND) | set(_WORD_OBJ)
              | set(_WORD_WEATHER) | set(COLORS) | FILLERS | {"left", "right", "middle", "center"})


def tokenize(text):
    t = text.lower()
    for k, v in _MULTI.items():
        t = re.sub(r"\b" + k + r"\b", v, t)
    return re.findall(r"[a-z_]+", t)


class CaptionError(ValueError):
    pass


def parse_caption(text, strict=False):
    """Parse a caption into a dict over the nine attribute keys.

    Values: the stated value, the docs/scenes.md default where one applies, or None
    where the caption leaves it open. With strict=True, unknown words,
    conflicting statements or a colour/place that attaches to nothing raise
    CaptionError.
    """
    toks = tokenize(text)
    found = {}

    def setv(key, val):
        if key in found and found[key] != val:
            if strict:
                raise CaptionError(f"conflicting {key}: {found[key]} vs {val}")
        found.setdefault(key, val)

    places = {}  # index of the noun token -> place
    i = 0
    while i < len(toks):
        tri = tuple(toks[i:i + 3])
        if tri in _PLACE:
            noun_i = i - 1
            if noun_i >= 0 and (toks[noun_i] in _WORD_BODY or toks[noun_i] in _WORD_OBJ):
                places[noun_i] = _PLACE[tri]
            elif strict:
                raise CaptionError(f"place phrase {' '.join(tri)!r} does not follow a sun/moon/object noun")
            i += 3
            continue
        w = toks[i]
        if w in _WORD_TIME:
            setv("time", _WORD_TIME[w])
        elif w in _WORD_GROUND:
            setv("ground", _WORD_GROUND[w])
        elif w in _WORD_BODY:
            setv("body", _WORD_BODY[w])
            if w == "sun" or w == "moon" or w == "full_moon":
                found.setdefault("_body_i", i)
        elif w in _WORD_LAND:
            setv("land", _WORD_LAND[w])
        elif w in _WORD_WEATHER:
            setv("weather", _WORD_WEATHER[w])
        elif w in _WORD_OBJ:
            setv("obj", _WORD_OBJ[w])
            found.setdefault("_obj_i", i)
            if i > 0 and toks[i - 1] in COLORS:
                setv("color", toks[i - 1])
        elif w in COLORS:
            # a colour must precede an object noun; "green meadow" (docs/scenes.md example) is tolerated
            nxt = toks[i + 1] if i + 1 < len(toks) else ""
            if strict and not (nxt in _WORD_OBJ or (w == "green" and _WORD_GROUND.get(nxt) == "grass")):
                raise CaptionError(f"colour {w!r} not before an object noun")
        elif w in FILLERS or w in ("left", "right", "middle", "center"):
            pass
        elif strict:
            raise CaptionError(f"unknown word {w!r}")
        i += 1

    out = {"time": found.get("time"), "ground": found.get("ground")}
    body = found.get("body", "none")
    out["body"] = body
    if body == "none":
        out["body_place"] = "none"
    else:
        out["body_place"] = places.get(found["_body_i"], "center")
    out["land"] = found.get("land", "none")
    out["weather"] = found.get("weather", "clear")
    obj = found.get("obj", "none")
    out["obj"] = obj
    if obj == "none":
        out["color"], out["obj_place"] = "none", "none"
    else:
        out["color"] = "none" if obj == "tree" else found.get("color")
        p = places.get(found["_obj_i"])
        if p == "center":
            if strict:
                raise CaptionError("object place must be left or right")
            p = None
        out["obj_place"] = p
    if strict:
        if out["time"] is None or out["ground"] is None:
            raise CaptionError("time and ground must be stated")
        if obj in ("house", "boat") and out["color"] is None:
            raise CaptionError("house and boat need a colour")
    return out
