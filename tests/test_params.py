"""Parameter declarations: validation, command-line parsing, one error template."""

import pytest

from flowclass.errors import ParamValueError
from flowclass.params import Bool, Choice, Float, Int, List, Path, Text


def test_int_accepts_range_and_whole_floats_rejects_the_rest():
    p = Int(name="k", default=3, min=1, max=10)
    assert p.validate(5) == 5
    assert p.validate(4.0) == 4
    for bad in (0, 11, 2.5, "3", True, None):
        with pytest.raises(ParamValueError) as info:
            p.validate(bad)
        assert "an integer in [1, 10]" in str(info.value)
    assert p.parse(" 7 ") == 7
    with pytest.raises(ParamValueError):
        p.parse("seven")


def test_float_bool_choice_text_path():
    assert Float(name="x", default=0.5, min=0, max=1).parse("0.25") == 0.25
    with pytest.raises(ParamValueError):
        Float(name="x", default=0.5, min=0, max=1).validate(float("nan"))
    assert Bool(name="b", default=True).parse("off") is False
    with pytest.raises(ParamValueError):
        Bool(name="b", default=True).validate(1)
    c = Choice(name="m", default="a", choices=("a", "b"))
    with pytest.raises(ParamValueError) as info:
        c.validate("z")
    assert str(info.value) == "expected one of 'a', 'b'; got 'z'"
    assert Text(name="t", default="").validate("") == ""
    with pytest.raises(ParamValueError):
        Text(name="t", default="x", allow_empty=False).validate("  ")
    with pytest.raises(ParamValueError):
        Path(name="p", default="", target="file", extensions=(".csv",), optional=True).validate("table.txt")


def test_a_bad_default_is_a_declaration_error():
    with pytest.raises(ValueError, match="default of parameter 'k'"):
        Int(name="k", default=0, min=1)


def test_path_resolution_depends_on_role(tmp_path):
    base, out = tmp_path / "wf", tmp_path / "out"
    read = Path(name="folder", default="", role="input", optional=True)
    write = Path(name="folder", default="x", role="output")
    assert read.resolve("images", base, out) == str((base / "images").resolve())
    assert write.resolve("clusters", base, out) == str((out / "clusters").resolve())
    assert read.resolve("", base, out) == ""  # empty means "not given"
    assert write.resolve(str(tmp_path / "abs"), base, out) == str(tmp_path / "abs")


def test_every_parameter_of_the_registry_rejects_generated_bad_values(registry):
    """As scikit-learn's common tests: constraints are data, so bad values can be generated."""
    checked = 0
    for node_type in registry:
        for p in node_type.params:
            bad_values = [object(), [1], {"a": 1}]
            if isinstance(p, Int):
                bad_values += [1.5, "1"] + ([p.min - 1] if p.min is not None else [])
            if isinstance(p, Float) and p.max is not None:
                bad_values.append(p.max + 1)
            if isinstance(p, Float):  # JSON's whole numbers have no limit, floats do
                bad_values += [10**400, -(10**400), 2**1024]
            if isinstance(p, Choice):
                bad_values.append("no-such-choice")
            if isinstance(p, List):  # more items than any list needs, each a valid one
                bad_values.append([(p.choices or ("a",))[0]] * (p.max_items + 1))
            for bad in bad_values:
                with pytest.raises(ParamValueError):
                    p.validate(bad)
            if not p.required:
                assert p.validate(p.default) == p.default
            checked += 1
    assert checked > 20


def test_a_number_no_float_can_hold_is_a_problem_named_not_a_crash(registry):
    """A shared workflow's 400-digit whole number for a number parameter crashed ``flowclass
    validate``, ``run`` and the canvas with an OverflowError traceback (math.isfinite of it)."""
    import json

    from flowclass.validation import validate
    from flowclass.workflow_file import loads

    doc = {"schema_version": 1, "nodes": [{"id": "c", "type": "hierarchical_clustering",
                                           "params": {"distance": 10**400, "height_ratio": -(10**400)}}]}
    problems = [p for p in validate(loads(json.dumps(doc), registry), registry) if p.code != "missing_input"]
    assert sorted((p.code, p.node, p.field) for p in problems) == [
        ("bad_value", "c", "distance"), ("bad_value", "c", "height_ratio")]
    assert "a number >= 0.0" in str(problems[0]) + str(problems[1])


def test_a_list_longer_than_any_needs_is_refused_by_its_length():
    """A shared workflow's list of 200,000 distinct items: each was looked for among those
    before it (quadratic: minutes in validation, in the canvas and the CLI alike)."""
    param = List(name="tags", default=[])
    many = [f"t{i}" for i in range(param.max_items + 1)]
    with pytest.raises(ParamValueError, match=f"at most {param.max_items:,}"):
        param.validate(many)
    assert param.validate(many[:param.max_items - 1] + ["t0"]) == many[:param.max_items - 1]
