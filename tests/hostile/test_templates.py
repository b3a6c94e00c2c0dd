"""The template sandbox: what it refuses, and what it still renders as before."""

from __future__ import annotations

from typing import Any

import pytest

from gorgon_nb.engine.templating import (
    Names,
    TemplateError,
    compile_expression,
    compile_template,
    render_deadline,
)
from gorgon_nb.errors import ConfigError

CONTEXT: dict[str, Any] = {"inputs": Names({"items": [1, 2, 3], "keys": "k", "name": "Ada"}),
                           "steps": Names({"items": {"output": {"n": 2}, "status": "succeeded", "error": None}})}


def render(text: str, **more: Any) -> str:
    return compile_template(text).render({**CONTEXT, **more})


@pytest.mark.parametrize(("template", "expected"), [
    ("{% for x in inputs['items'] %}{{ loop.index }}/{{ loop.length }}{{ ',' if not loop.last }}{% endfor %}",
     "1/3,2/3,3/3"),
    ("{% for x in [] %}x{% else %}empty{% endfor %}", "empty"),
    ("{% macro hi(who) %}hi {{ who }}{% endmacro %}{{ hi('a') }} {{ hi('b') }}", "hi a hi b"),
    ("{% macro box() %}[{{ caller() }}]{% endmacro %}{% call box() %}in{% endcall %}", "[in]"),
    ("{% set s %}{% for i in range(3) %}{{ i }}{% endfor %}{% endset %}{{ s }}", "012"),
    ("{% for n in [{'c': [{'c': []}]}] recursive %}({{ loop(n.c) }}){% endfor %}", "(())"),
    ("{{ 'a' ~ 1 ~ none }}", "a1None"),
    ("{{ {'a': 1} }}", '{\n  "a": 1\n}'),
    ("{{ (1, 2) }}", "(1, 2)"),
    ("{{ '%s-%03d' % ('x', 7) }} {{ '{}|{:>4}'.format('y', 5) }} {{ '{a}'.format_map({'a': 1}) }}", "x-007 y|   5 1"),
    ("{{ 'ab' * 3 }} {{ [0] * 2 }} {{ 2 ** 10 }} {{ 3 * 4 }} {{ 'a' + 'b' }}", 'ababab [\n  0,\n  0\n] 1024 12 ab'),
    ("{{ range(4) | join(',') }} {{ ['a', 'b'] | map('upper') | join }} {{ 'x' | center(5) }}|", "0,1,2,3 AB   x  |"),
    ("{{ 'a b' | replace(' ', '_') }} {{ 'l1\nl2' | indent(2) }} {{ [1, 2, 3] | batch(2, 0) | list }}",
     'a_b l1\n  l2 [\n  [\n    1,\n    2\n  ],\n  [\n    3,\n    0\n  ]\n]'),
    ("{{ '%s!' | format('hey') }} {{ [3, 1] | sort | list }} {{ 'x,y'.split(',') | length }}", 'hey! [\n  1,\n  3\n] 2'),
    ("{{ lipsum(2, html=false) | wordcount > 10 }}", "True"),
    ("{{ inputs.items | length }} {{ inputs.keys }} {{ steps.items.output.n }}", "3 k 2"),
    ("{% set ns = namespace(n=0) %}{% for i in range(10) %}{% set ns.n = ns.n + i %}{% endfor %}{{ ns.n }}", "45"),
])
def test_ordinary_templates_render_as_before(template: str, expected: str) -> None:
    assert render(template) == expected


def test_a_sole_expression_keeps_its_type() -> None:
    assert compile_template("{{ inputs['items'] * 2 }}").value(CONTEXT) == [1, 2, 3, 1, 2, 3]
    assert compile_expression("inputs.items | length > 2").evaluate(CONTEXT) is True


SIZE = "more than the limit of 4,000,000 characters (or items) a template may make; set " \
       "GORGON_MAX_RENDERED_CHARS to raise the limit"


@pytest.mark.parametrize(("template", "says"), [
    ("{{ 'ab' * 10**9 }}", f"this '*' would make 2,000,000,000 characters (or items), {SIZE}"),
    ("{{ 10**9 * [1] }}", "this '*' would make 1,000,000,000 characters"),
    ("{% set ns = namespace(l=[1]) %}{% for i in range(40) %}{% set ns.l = ns.l + ns.l %}{% endfor %}",
     "this '+' would make 4,194,304 characters"),
    ("{% set x = [1] %}{% for i in range(40) %}{{ x.extend(x) }}{% endfor %}", "extend() would make 4,194,304"),
    ("{% set ns = namespace(s='abcd') %}{% for i in range(40) %}{% set ns.s %}{{ ns.s }}{{ ns.s }}{% endset %}"
     "{% endfor %}", "the template wrote 4,194,"),
    ("{{ 'x'.zfill(10**9) }}", "str.zfill() would make 1,000,000,000"),
    ("{{ ('\t' * 1000).expandtabs(10**6) }}", "str.expandtabs() would make 1,000,001,000"),
    ("{{ ('a' * 1000).replace('a', 'b' * 10**5) }}", "str.replace() would make 100,000,000"),
    ("{{ ('a' * 10**5) | replace('', 'b' * 100) }}", "the replace filter would make 10,100,100"),
    ("{{ ('x' * 10**5).join(['a'] * 1000) }}", "str.join() would make 99,90"),
    ("{{ (['a'] * 100000) | join('x' * 1000) }}", "the join filter would make 99,99"),
    ("{{ ('a\n' * 10**5) | indent(100) }}", "the indent filter would make 10,200,100"),
    ("{{ [1] | batch(10**9, 0) | list }}", "the batch filter would make 1,000,000,000"),
    ("{{ [1] | slice(10**9) | list }}", "the slice filter would make 1,000,000,000"),
    ("{{ '{a:>1000000000}'.format_map({'a': 1}) }}", "this format() would make 1,000,000,0"),
    ("{{ '%*d' % (10**9, 1) }}", "this '%' formatting would make 1,000,000,0"),
    ("{{ '%s' | format('x' * 3000000) * 2 }}", "this '*' would make 6,000,000"),
    ("{% set x = [1] * 1000 %}{{ [x] * 5000 }}", "writing this value as JSON made 4,000,0"),
    ("{% set x = [1] * 1000 %}{{ ([x] * 5000) | string }}", "the string filter would make 4,00"),
    ("{{ ([10**4000] * 1000) | tojson }}", "the tojson filter would make 4,00"),
    ("{{ ['a' * 3000000, 'b' * 3000000] | join }}", "the join filter would make 6,000,000"),
    ("{{ ('a' * 3000000) ~ ('b' * 3000000) }}", "this '~' would make 6,000,000"),
    ("{{ lipsum(10**4) }}", "lipsum(10000, max=100) would make 10,000,000"),
    ("{{ (10**5000) * (10**6000) }}", "this '*' would make a number of about 11,000 digits, more than the limit of 10,000 digits "
                                      "in a number a template makes; set GORGON_MAX_TEMPLATE_DIGITS"),
    ("{{ range(100001) | length }}", "range(100001,) has 100,001 items, more than the limit of 100,000 items in "
                                     "a template's range(); set GORGON_MAX_TEMPLATE_RANGE to raise the limit"),
    ("{% for i in range(2000) %}{% for j in range(1000) %}{% endfor %}{% endfor %}",
     "more than the limit of 1,000,000 operations per template render; set GORGON_MAX_TEMPLATE_OPS"),
    ("{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}", "the template calls itself too deep"),
    ("{{ ('[' * 100000) | fromjson }}", "fromjson: the JSON nests too deep to be read"),
])
def test_what_would_be_too_big_or_too_long_is_refused(template: str, says: str) -> None:
    with pytest.raises(TemplateError) as caught:
        render(template)
    assert says in str(caught.value)


def test_constant_folding_builds_nothing_big() -> None:
    # Jinja folds constant filters while compiling: the measured filter refuses there too,
    # so the template compiles (and validation passes) and the render says why.
    template = compile_template("{{ 'x' | center(10**9) }}")
    with pytest.raises(TemplateError, match="the center filter would make 1,000,000,000"):
        template.render({})


def test_the_limits_are_raised_by_their_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GORGON_MAX_TEMPLATE_RANGE", "10")
    with pytest.raises(TemplateError, match="more than the limit of 10 items"):
        render("{{ range(11) | list }}")
    monkeypatch.setenv("GORGON_MAX_RENDERED_CHARS", "100")
    with pytest.raises(TemplateError, match="more than the limit of 100 characters"):
        render("{{ 'a' * 101 }}")
    assert render("{{ 'a' * 100 }}") == "a" * 100
    monkeypatch.delenv("GORGON_MAX_TEMPLATE_RANGE")
    monkeypatch.setenv("GORGON_MAX_TEMPLATE_OPS", "50")
    with pytest.raises(TemplateError, match="more than the limit of 50 operations"):
        render("{% for i in range(60) %}{% endfor %}")
    monkeypatch.setenv("GORGON_MAX_TEMPLATE_OPS", "a lot")
    with pytest.raises(ConfigError, match="GORGON_MAX_TEMPLATE_OPS='a lot' is not a limit: give a whole number"):
        render("{% for i in range(3) %}{% endfor %}")


def test_a_render_stops_at_a_deadline_that_has_passed() -> None:
    # The clock is read every few hundred operations; a deadline already gone stops the first look.
    spin = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
    with render_deadline(-1.0, "the step's timeout of 5s"), pytest.raises(TemplateError) as caught:
        render(spin)
    assert "the template was still rendering when the step's timeout of 5s passed" in str(caught.value)
    assert render("{{ 1 + 1 }}") == "2"  # each render has a budget of its own


def test_a_later_deadline_does_not_replace_an_earlier_one() -> None:
    spin = "{% for i in range(100000) %}{% endfor %}"
    with render_deadline(-1.0, "the run's timeout of 1s"), render_deadline(3600.0, "the step's timeout of 1h"), \
            pytest.raises(TemplateError, match="the run's timeout of 1s"):
        render(spin)
    with render_deadline(None, ""):
        assert render("{% for i in range(10) %}{% endfor %}ok") == "ok"


def test_names_come_before_a_mappings_methods() -> None:
    assert render("{{ inputs.items }}") == "[\n  1,\n  2,\n  3\n]"
    assert render("{{ steps.items.status }}") == "succeeded"
    # a plain dict still offers its methods, as Jinja's do
    assert render("{{ d.items() | list | length }}", d={"a": 1}) == "1"
