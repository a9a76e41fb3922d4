"""`routecar.redaction.Redactor`: key shapes, registered secrets, containers; one per owner."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass, field

from routecar.redaction import REDACTED, Redactor


def test_key_shapes_are_replaced_without_registration() -> None:
    r = Redactor()
    text = ("openai sk-proj-abcdefgh1234 anthropic sk-ant-api03-ZZZZZZZZ gemini "
            "AIzaSyA1234567890abcdefghijklmno header Bearer abc.def-ghi_jkl==")
    assert r.text(text) == f"openai {REDACTED} anthropic {REDACTED} gemini {REDACTED} header {REDACTED}"
    assert r.text("sk-short and skeleton") == "sk-short and skeleton"


def test_registered_secrets_longest_first_and_short_ones_ignored() -> None:
    r = Redactor()
    r.register("corp-token-7f3a9")
    r.register("corp-token-7f3a9-extended")
    r.register("ab")
    r.register("")
    assert r.text("a corp-token-7f3a9-extended b corp-token-7f3a9 c") == f"a {REDACTED} b {REDACTED} c"
    assert r.text("about tab") == "about tab"
    assert Redactor(("given-at-birth",)).text("x given-at-birth") == f"x {REDACTED}"


def test_instances_share_nothing() -> None:
    a, b = Redactor(), Redactor()
    a.register("only-in-a-1234")
    assert a.text("only-in-a-1234") == REDACTED
    assert b.text("only-in-a-1234") == "only-in-a-1234"


def test_scrub_copies_containers_and_stringifies_objects_through_their_repr() -> None:
    @dataclass
    class Provider:
        name: str
        api_key: str = field(repr=False)

    r = Redactor(("opaque-secret",))
    value = {"opaque-secret": ["fine", 3, None, True, ("sk-abcdefghijklmnop",)],
             "provider": Provider("openai", "sk-hidden-000000000"), "n": 1.5}
    out = r.scrub(value)
    assert out[REDACTED] == ["fine", 3, None, True, [REDACTED]] and out["n"] == 1.5
    assert out["provider"].endswith("Provider(name='openai')")
    assert value["opaque-secret"][4] == ("sk-abcdefghijklmnop",)  # the original is untouched


def test_scrub_of_a_self_referencing_structure_terminates() -> None:
    loop: list = ["opaque-secret"]
    loop.append(loop)
    out = Redactor(("opaque-secret",)).scrub(loop)
    assert out[0] == REDACTED


def test_redaction_imports_nothing_of_routecar() -> None:
    code = ("import sys, routecar.redaction; "
            "print(sorted(m for m in sys.modules if m.startswith('routecar')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         timeout=60).stdout
    assert out.strip() == "['routecar', 'routecar.redaction']"
