"""Attribute space of the scenes world (docs/scenes.md): values, constraints,
sampling per split, and the held-out combinations."""

import numpy as np

ATTRIBUTES = {
    "time": ["day", "sunset", "night"],
    "ground": ["grass", "desert", "snow", "sea"],
    "body": ["none", "sun", "moon"],
    "body_place": ["none", "center", "left", "right"],
    "land": ["none", "mountains", "hills"],
    "weather": ["clear", "cloudy"],
    "obj": ["none", "house", "tree", "boat"],
    "color": ["none", "red", "blue", "yellow", "white", "black", "orange", "purple", "green"],
    "obj_place": ["none", "left", "right"],
}

ATTRIBUTE_NAMES = list(ATTRIBUTES)
OBJECT_COLORS = ATTRIBUTES["color"][1:]

# Held-out rules (docs/scenes.md "Held-out combinations"); each is a predicate on a full attrs dict.
HELDOUT_RULES = {
    "snow_sunset": lambda a: a["ground"] == "snow" and a["time"] == "sunset",
    "desert_night_house": lambda a: a["ground"] == "desert" and a["time"] == "night" and a["obj"] == "house",
    "sea_cloudy_sun": lambda a: a["ground"] == "sea" and a["weather"] == "cloudy" and a["body"] == "sun",
    "purple_green_night": lambda a: a["color"] in ("purple", "green") and a["time"] == "night",
}


def heldout_rules(attrs):
    """Names of the held-out rules that a (full) attrs dict matches."""
    return [name for name, rule in HELDOUT_RULES.items() if rule(attrs)]


def is_heldout(attrs):
    """True when attrs contains any held-out combination (never in split "train")."""
    return any(rule(attrs) for rule in HELDOUT_RULES.values())


def validate(attrs):
    """Raise ValueError if attrs breaks a docs/scenes.md constraint."""
    for k, vals in ATTRIBUTES.items():
        if attrs.get(k) not in vals:
            raise ValueError(f"attribute {k}={attrs.get(k)!r} not in {vals}")
    t, g, b = attrs["time"], attrs["ground"], attrs["body"]
    if b == "sun" and t == "night":
        raise ValueError("sun only by day or at sunset")
    if b == "moon" and t != "night":
        raise ValueError("moon only at night")
    if (b == "none") != (attrs["body_place"] == "none"):
        raise ValueError("body_place is 'none' iff body is 'none'")
    o = attrs["obj"]
    if o in ("house", "tree") and g == "sea":
        raise ValueError("house/tree not on sea")
    if o == "boat" and g != "sea":
        raise ValueError("boat only on sea")
    if (o in ("none", "tree")) != (attrs["color"] == "none"):
        raise ValueError("colour required for house/boat, none for tree/no object")
    if (o == "none") != (attrs["obj_place"] == "none"):
        raise ValueError("obj_place is 'none' iff obj is 'none'")
    return attrs


def _choice(rng, values, p=None):
    if p is None:
        return values[int(rng.random() * len(values))]
    r = rng.random()
    acc = 0.0
    for v, pv in zip(values, p):
        acc += pv
        if r < acc:
            return v
    return values[-1]


def _sample_any(rng):
    time = _choice(rng, ATTRIBUTES["time"])
    ground = _choice(rng, ATTRIBUTES["ground"])
    if rng.random() < 0.6:
        body = "moon" if time == "night" else "sun"
        body_place = _choice(rng, ["center", "left", "right"])
    else:
        body, body_place = "none", "none"
    land = _choice(rng, ATTRIBUTES["land"], [0.4, 0.3, 0.3])
    weather = _choice(rng, ATTRIBUTES["weather"])
    if ground == "sea":
        obj = _choice(rng, ["none", "boat"], [0.3, 0.7])
    else:
        obj = _choice(rng, ["none", "house", "tree"], [0.2, 0.45, 0.35])
    color = _choice(rng, OBJECT_COLORS) if obj in ("house", "boat") else "none"
    obj_place = _choice(rng, ["left", "right"]) if obj != "none" else "none"
    return {
        "time": time, "ground": ground, "body": body, "body_place": body_place,
        "land": land, "weather": weather, "obj": obj, "color": color, "obj_place": obj_place,
    }


def sample_attributes(rng, split="train"):
    """Sample a full, valid attrs dict.

    split="train": never a held-out combination; "heldout": only held-out
    combinations (one held-out rule is chosen uniformly, then attributes are
    rejection-sampled until they match it, so the four rules are balanced);
    "any": no restriction.
    """
    if split == "any":
        return _sample_any(rng)
    if split == "train":
        while True:
            a = _sample_any(rng)
            if not is_heldout(a):
                return a
    if split == "heldout":
        names = list(HELDOUT_RULES)
        rule = HELDOUT_RULES[names[int(rng.random() * len(names))]]
        while True:
            a = _sample_any(rng)
            if rule(a):
                return a
    raise ValueError(f"unknown split {split!r}")
