# Run from the repository root: python3 spec/vectors/generators/policy.py
# Independent generator for spec/vectors/policy.json: a minimal deterministic-CBOR encoder
# written from RFC 8949 §3 and §4.2.1, not from the Rust codec.
import json, struct
def head(major, n):
    if n < 24: return bytes([major << 5 | n])
    if n < 256: return bytes([major << 5 | 24, n])
    if n < 65536: return bytes([major << 5 | 25]) + struct.pack(">H", n)
    if n < 2**32: return bytes([major << 5 | 26]) + struct.pack(">I", n)
    return bytes([major << 5 | 27]) + struct.pack(">Q", n)
def enc(v):
    if isinstance(v, bool): return bytes([0xf5 if v else 0xf4])
    if v is None: return bytes([0xf6])
    if isinstance(v, int):
        return head(0, v) if v >= 0 else head(1, -1 - v)
    if isinstance(v, str):
        b = v.encode(); return head(3, len(b)) + b
    if isinstance(v, list): return head(4, len(v)) + b"".join(enc(x) for x in v)
    if isinstance(v, dict):
        items = sorted(((enc(k), enc(x)) for k, x in v.items()), key=lambda kv: kv[0])
        return head(5, len(items)) + b"".join(k + x for k, x in items)
    raise TypeError(v)
def raw_map(pairs):  # keeps the given order (to build non-canonical input on purpose)
    return head(5, len(pairs)) + b"".join(enc(k) + enc(x) for k, x in pairs)

seal = json.load(open('spec/vectors/seal.json'))
profile = bytes.fromhex(seal['default_profile']['cbor_hex'])
assert profile[0] == 0xa2
body = profile[1:]   # keys 1 and 2 of the profile
def policy(extra):   # extra: list of (key, encoded value), keys ascending and > 2
    return (head(5, 2 + len(extra)) + body + b"".join(enc(k) + v for k, v in extra)).hex()
MAX = 100 * 366 * 86400
valid = [
  {"name": "bare default profile: no caps, no requirements", "cbor_hex": profile.hex(),
   "lifetime_caps": [], "nhi_types": [], "nhi_max_expiry": None},
  {"name": "connectors capped at a day", "cbor_hex": policy([(3, enc({2: 86400}))]),
   "lifetime_caps": [[2, 86400]], "nhi_types": [], "nhi_max_expiry": None},
  {"name": "every level capped, the largest cap allowed at level 1",
   "cbor_hex": policy([(3, enc({1: MAX, 2: 2592000, 8: 1}))]),
   "lifetime_caps": [[1, MAX], [2, 2592000], [8, 1]], "nhi_types": [], "nhi_max_expiry": None},
  {"name": "agents need an owner and an expiry, unbounded",
   "cbor_hex": policy([(4, enc({1: ["Agent"]}))]),
   "lifetime_caps": [], "nhi_types": ["Agent"], "nhi_max_expiry": None},
  {"name": "two privileged groups (text keys in deterministic order: shorter first)",
   "cbor_hex": policy([(5, enc({"admins": 2, "breakglass-approvers": 3}))]),
   "lifetime_caps": [], "nhi_types": [], "nhi_max_expiry": None,
   "privileged_groups": [["admins", 2], ["breakglass-approvers", 3]]},
  {"name": "caps and bounded NHI requirements together",
   "cbor_hex": policy([(3, enc({2: 86400})), (4, enc({1: ["Agent", "AgenticApplication"], 2: 7776000}))]),
   "lifetime_caps": [[2, 86400]], "nhi_types": ["Agent", "AgenticApplication"], "nhi_max_expiry": 7776000},
]
invalid = [
  ("caps present but empty", policy([(3, enc({}))]), "policy.caps_empty"),
  ("caps not a map", policy([(3, enc([2, 86400]))]), "policy.caps_shape"),
  ("a cap keyed by text", policy([(3, enc({"2": 86400}))]), "policy.caps_shape"),
  ("a negative cap", policy([(3, enc({2: -1}))]), "policy.caps_shape"),
  ("level 0", policy([(3, enc({0: 60}))]), "policy.cap_level"),
  ("level 9", policy([(3, enc({9: 60}))]), "policy.cap_level"),
  ("a cap of 0 s", policy([(3, enc({2: 0}))]), "policy.cap_seconds"),
  ("a cap over 100 years", policy([(3, enc({2: MAX + 1}))]), "policy.cap_seconds"),
  ("caps with keys out of order (not deterministic CBOR)", policy([(3, raw_map([(3, 60), (2, 60)]))]), "cbor.non_canonical"),
  ("requirements not a map", policy([(4, enc(["Agent"]))]), "policy.nhi_shape"),
  ("requirements without types", policy([(4, enc({2: 60}))]), "policy.nhi_shape"),
  ("requirements with no type listed", policy([(4, enc({1: []}))]), "policy.nhi_shape"),
  ("an unknown requirements key", policy([(4, enc({1: ["Agent"], 3: 1}))]), "policy.nhi_shape"),
  ("a type name with a space", policy([(4, enc({1: ["Agent Smith"]}))]), "policy.nhi_type"),
  ("types out of order", policy([(4, enc({1: ["User", "Agent"]}))]), "policy.nhi_not_canonical"),
  ("a repeated type", policy([(4, enc({1: ["Agent", "Agent"]}))]), "policy.nhi_not_canonical"),
  ("a maximum expiry of 0 s", policy([(4, enc({1: ["Agent"], 2: 0}))]), "policy.nhi_max_expiry"),
  ("privileged groups not a map", policy([(5, enc(["admins"]))]), "policy.groups_shape"),
  ("privileged groups present but empty", policy([(5, enc({}))]), "policy.groups_shape"),
  ("a privileged group keyed by a number", policy([(5, enc({1: 2}))]), "policy.groups_shape"),
  ("an empty group id", policy([(5, enc({"": 2}))]), "policy.group_id"),
  ("one approver is no approval rule", policy([(5, enc({"admins": 1}))]), "policy.approver_count"),
  ("more than 16 approvers", policy([(5, enc({"admins": 17}))]), "policy.approver_count"),
  ("an unknown policy key", policy([(6, enc(1))]), "shape.unknown_field"),
]
out = {
  "description": "zkscim tenant policy documents (spec/policy.md): valid documents with what they decode to, and invalid ones with the code a decoder must report. Generated by an independent deterministic-CBOR encoder from the default profile of seal.json.",
  "max_lifetime_cap_seconds": MAX,
  "valid": valid,
  "invalid": [{"name": n, "cbor_hex": h, "code": c} for n, h, c in invalid],
  "cap_for_level": {"caps": [[2, 86400], [4, 3600]],
                     "expect": [[1, None], [2, 86400], [3, 86400], [4, 3600], [8, 3600]]},
}
json.dump(out, open('spec/vectors/policy.json', 'w'), indent=2)
open('spec/vectors/policy.json', 'a').write("\n")
