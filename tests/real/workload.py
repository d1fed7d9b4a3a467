"""Allocation-heavy Python workload with deterministic output.

Used by run_real.sh, which runs it with and without LD_PRELOAD and
compares stdout.  Exercises dicts, lists, sets, strings, json, re,
hashlib, sorting and the cyclic garbage collector on generated data.
Run with PYTHONHASHSEED=0 so set iteration order is stable.
"""
import gc
import hashlib
import json
import random
import re
import sys
from collections import Counter, defaultdict


def h(obj):
    return hashlib.sha256(repr(obj).encode()).hexdigest()[:16]


rng = random.Random(20240607)
WORDS = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 12)))
         for _ in range(5000)]

# dicts and lists
d = {}
for i in range(200000):
    k = WORDS[rng.randrange(len(WORDS))] + str(i % 977)
    d.setdefault(k, []).append(i)
sizes = sorted(len(v) for v in d.values())
print("dict", len(d), sum(sizes), sizes[-5:], h(sorted(d)[:50]))

# grow and shrink a big list, slicing and deleting in the middle
lst = list(range(300000))
for i in range(0, 300000, 7):
    lst[i] = str(lst[i]) * 3
del lst[1000:150000]
lst.extend(x * 2 for x in range(50000))
lst.sort(key=lambda x: (isinstance(x, str), str(x)))
print("list", len(lst), h(lst[:100]), h(lst[-100:]))

# sets and Counter
s1 = {w[:4] for w in WORDS}
s2 = {w[-4:] for w in WORDS}
c = Counter(w[0] for w in WORDS)
print("sets", len(s1), len(s2), len(s1 & s2), len(s1 ^ s2), sorted(c.most_common(5)))

# strings: join, split, replace, format
text = " ".join("%s-%d" % (WORDS[i % len(WORDS)], i) for i in range(150000))
parts = text.split(" ")
text2 = text.replace("a", "AA").upper()
print("str", len(text), len(parts), len(text2), h(text2[:1000]))

# json round trip of a nested structure
doc = {
    "items": [{"id": i, "name": WORDS[i % 5000], "tags": WORDS[i % 13:i % 13 + i % 5],
               "score": (i * 7919) % 10007 / 7.0, "nested": {"a": [i, i + 1, {"b": str(i)}]}}
              for i in range(40000)],
    "meta": {"count": 40000, "ok": True, "none": None},
}
enc = json.dumps(doc, sort_keys=True)
dec = json.loads(enc)
assert dec == doc
print("json", len(enc), hashlib.md5(enc.encode()).hexdigest())

# regular expressions
pat = re.compile(r"([a-z]{3,})-(\d+)")
matches = pat.findall(text)
subbed = re.sub(r"(\d)(\d)", r"\2\1", text[:500000])
groups = defaultdict(int)
for word, num in matches:
    groups[word[:2]] += int(num) % 100
print("re", len(matches), h(sorted(groups.items())), hashlib.sha1(subbed.encode()).hexdigest())

# hashlib over growing byte strings
acc = hashlib.sha512()
blob = bytearray()
for i in range(3000):
    blob += i.to_bytes(4, "little") * (i % 50 + 1)
    if i % 100 == 0:
        acc.update(bytes(blob))
print("hash", len(blob), acc.hexdigest()[:32], hashlib.blake2b(bytes(blob)).hexdigest()[:32])


# reference cycles freed by the cyclic collector
class Node:
    __slots__ = ("nxt", "payload", "__weakref__")

    def __init__(self, payload):
        self.payload = payload
        self.nxt = None


del doc, dec, d, lst, matches
collected = 0
for rnd in range(8):
    nodes = [Node([rnd] * (i % 30)) for i in range(20000)]
    for i, n in enumerate(nodes):
        n.nxt = nodes[(i * 31 + 7) % len(nodes)]
    del nodes
    collected += gc.collect()
print("gc", collected > 0)

# big allocations: bytes and lists of millions of items
big = bytes(range(256)) * 40000
arr = [i * i for i in range(1000000)]
print("big", len(big), sum(arr) % 1000000007, hashlib.sha256(big).hexdigest()[:16])
sys.stdout.flush()
