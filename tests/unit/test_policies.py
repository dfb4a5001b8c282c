"""Policy loading: the shipped policy, strict checks on every key, versions and the CLI."""

from __future__ import annotations

import hashlib
import re
import shutil
import tomllib
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from reminders.cli import app
from reminders.errors import ConfigError
from reminders.policies import Anchor, Problem, check_policies, load_policies, policy_version
from reminders.sources import find_answer, load_answers, normalise

REPO = Path(__file__).resolve().parents[2]
POLICIES = REPO / "config" / "policies"
SOURCES = REPO / "config" / "sources"
SHIPPED_FILE = POLICIES / "botox.toml"
SHIPPED = SHIPPED_FILE.read_text(encoding="utf-8")
NOT_A_DURATION = "is not a duration like 0m, 90m, 4h, 1h30m or 2d"


# --- helpers -------------------------------------------------------------------------------


def make_config(root: Path) -> Path:
    """A copy of config/sources under `root` and an empty `policies` folder beside it."""
    shutil.copytree(SOURCES, root / "sources")
    policies = root / "policies"
    policies.mkdir()
    return policies


def edit(text: str, old: str, new: str) -> str:
    """Replace `old`, which must occur exactly once, so every edit is known to have happened."""
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times"
    return text.replace(old, new)


def edit_re(text: str, pattern: str, new: str) -> str:
    result, count = re.subn(pattern, new, text, flags=re.DOTALL)
    assert count == 1, f"{pattern!r} matched {count} times"
    return result


def write(folder: Path, text: str, name: str = "botox.toml") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def problems_of(folder: Path, text: str, name: str = "botox.toml") -> tuple[Path, list[Problem]]:
    path = write(folder, text, name)
    policy_set, problems = check_policies(folder)
    assert policy_set.policies == {}
    return path, problems


def only(problems: list[Problem]) -> Problem:
    assert len(problems) == 1, problems
    return problems[0]


def without_all_clear_instructions(text: str) -> str:
    start = text.index('id = "all_clear"')
    return text[: text.index("[[steps.instructions]]", start)]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return make_config(tmp_path)


# --- the shipped policy --------------------------------------------------------------------


def test_shipped_policies_have_no_problems() -> None:
    policy_set, problems = check_policies(POLICIES)
    assert problems == []
    assert policy_set.treatments == ["botox"]


def test_load_policies_of_shipped_folder_returns_botox() -> None:
    policy = load_policies(POLICIES).get("botox")
    assert policy is not None
    assert policy.treatment == "botox"
    assert policy.path == SHIPPED_FILE


def test_shipped_botox_steps_are_avoid_then_all_clear() -> None:
    policy = load_policies(POLICIES).get("botox")
    assert policy is not None
    assert [step.id for step in policy.steps] == ["avoid", "all_clear"]


def test_shipped_botox_step_times_are_as_written() -> None:
    policy = load_policies(POLICIES).get("botox")
    assert policy is not None
    avoid, all_clear = policy.steps
    assert avoid.offset == Anchor(timedelta(0), from_restriction_end=False)
    assert avoid.expires_at == Anchor(timedelta(0), from_restriction_end=True)
    assert avoid.expires_after is None
    assert avoid.min_useful == timedelta(minutes=15)
    assert not avoid.may_wait
    assert not avoid.not_before_restriction_end
    assert all_clear.offset == Anchor(timedelta(0), from_restriction_end=True)
    assert all_clear.expires_at is None
    assert all_clear.expires_after == timedelta(hours=12)
    assert all_clear.may_wait
    assert all_clear.not_before_restriction_end


def test_every_shipped_instruction_has_a_citation() -> None:
    for policy in load_policies(POLICIES).policies.values():
        for step in policy.steps:
            assert step.instructions, step.id
            for instruction in step.instructions:
                assert len(instruction.citations) >= 1, instruction.says


def test_every_shipped_citation_resolves_to_an_answer_in_its_source() -> None:
    for path in sorted(POLICIES.glob("*.toml")):
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        answers = load_answers(path.parent / data["source"])
        for step in data["steps"]:
            for instruction in step["instructions"]:
                for citation in instruction["citations"]:
                    answer = find_answer(
                        answers, heading=citation["heading"], clinician=citation["clinician"]
                    )
                    assert answer is not None, citation


def _fold(text: str) -> str:
    # Like sources.normalise but keeping case, so quotes are checked word for word.
    for curly, straight in (("\u2018", "'"), ("\u2019", "'"), ("\u201c", '"'), ("\u201d", '"')):
        text = text.replace(curly, straight)
    return " ".join(text.split())


def test_every_shipped_quote_appears_in_its_cited_answer() -> None:
    quotes = 0
    for path in sorted(POLICIES.glob("*.toml")):
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        answers = load_answers(path.parent / data["source"])
        for step in data["steps"]:
            for instruction in step["instructions"]:
                for citation in instruction["citations"]:
                    answer = find_answer(
                        answers, heading=citation["heading"], clinician=citation["clinician"]
                    )
                    assert answer is not None, citation
                    if "quote" in citation:
                        quotes += 1
                        assert _fold(citation["quote"]) in _fold(answer.text), citation
                        assert normalise(citation["quote"]) in normalise(answer.text)
    assert quotes > 0


# --- version -------------------------------------------------------------------------------


def test_version_is_treatment_and_a_hash_of_the_file_content() -> None:
    policy = load_policies(POLICIES).get("botox")
    assert policy is not None
    content = SHIPPED_FILE.read_bytes()
    assert policy.version == policy_version("botox", content)
    assert policy.version == f"botox@{hashlib.sha256(content).hexdigest()[:12]}"
    assert re.fullmatch(r"botox@[0-9a-f]{12}", policy.version)


def test_one_changed_character_gives_a_different_version(tmp_path: Path) -> None:
    first = make_config(tmp_path / "a")
    second = make_config(tmp_path / "b")
    write(first, SHIPPED)
    write(second, edit(SHIPPED, "We will write again", "We will write agaim"))
    one = load_policies(first).get("botox")
    two = load_policies(second).get("botox")
    assert one is not None
    assert two is not None
    assert one.version != two.version


def test_same_content_gives_the_same_version(tmp_path: Path) -> None:
    first = make_config(tmp_path / "a")
    second = make_config(tmp_path / "b")
    shutil.copyfile(SHIPPED_FILE, first / "botox.toml")
    shutil.copyfile(SHIPPED_FILE, second / "botox.toml")
    one = load_policies(first).get("botox")
    two = load_policies(second).get("botox")
    shipped = load_policies(POLICIES).get("botox")
    assert one is not None
    assert two is not None
    assert shipped is not None
    assert one.version == two.version == shipped.version


# --- strict loading: keys ------------------------------------------------------------------


def test_unknown_top_level_key_is_a_problem(folder: Path) -> None:
    text = edit(SHIPPED, 'product_name = "Botox"\n', 'product_name = "Botox"\ncolour = "blue"\n')
    path, problems = problems_of(folder, text)
    assert only(problems) == Problem(str(path), "colour", "unknown key")


def test_unknown_key_inside_a_step_is_a_problem(folder: Path) -> None:
    text = edit(SHIPPED, 'id = "avoid"\n', 'id = "avoid"\nfrequency = "daily"\n')
    path, problems = problems_of(folder, text)
    assert only(problems) == Problem(str(path), "steps[0].frequency", "unknown key")


def test_unknown_key_inside_a_citation_is_a_problem(folder: Path) -> None:
    text = edit(SHIPPED, 'for four hours" },', 'for four hours", page = 3 },')
    path, problems = problems_of(folder, text)
    assert only(problems) == Problem(
        str(path), "steps[0].instructions[0].citations[0].page", "unknown key"
    )


def test_instruction_with_empty_citations_is_a_problem(folder: Path) -> None:
    text = edit_re(
        SHIPPED,
        r'(says = "Do not lie flat during the restriction\."\ncitations = )\[.*?\n\]',
        r"\1[]",
    )
    path, problems = problems_of(folder, text)
    problem = only(problems)
    assert (problem.file, problem.key) == (str(path), "steps[0].instructions[1].citations")
    assert "at least 1 item" in problem.message


def test_instruction_without_citations_key_is_a_problem(folder: Path) -> None:
    text = edit_re(
        SHIPPED,
        r'(says = "Do not lie flat during the restriction\.")\ncitations = \[.*?\n\]',
        r"\1",
    )
    path, problems = problems_of(folder, text)
    assert only(problems) == Problem(
        str(path), "steps[0].instructions[1].citations", "Field required"
    )


def test_step_without_instructions_is_a_problem(folder: Path) -> None:
    path, problems = problems_of(folder, without_all_clear_instructions(SHIPPED))
    assert only(problems) == Problem(str(path), "steps[1].instructions", "Field required")


def test_step_with_empty_instructions_list_is_a_problem(folder: Path) -> None:
    text = edit(
        without_all_clear_instructions(SHIPPED),
        'id = "all_clear"\n',
        'id = "all_clear"\ninstructions = []\n',
    )
    path, problems = problems_of(folder, text)
    problem = only(problems)
    assert (problem.file, problem.key) == (str(path), "steps[1].instructions")
    assert "at least 1 item" in problem.message


def test_not_before_other_than_restriction_end_is_a_problem(folder: Path) -> None:
    text = edit(SHIPPED, 'not_before = "restriction_end"', 'not_before = "tomorrow"')
    path, problems = problems_of(folder, text)
    problem = only(problems)
    assert (problem.file, problem.key) == (str(path), "steps[1].not_before")
    assert "restriction_end" in problem.message


# --- strict loading: citations -------------------------------------------------------------


def test_citation_of_a_clinician_not_in_the_source_is_a_problem(folder: Path) -> None:
    text = edit(SHIPPED, 'clinician = "Sydney Plastic Surgeon"', 'clinician = "Sydney Surgeon"')
    path, problems = problems_of(folder, text)
    assert only(problems) == Problem(
        str(path),
        "steps[0].instructions[0].citations[3]",
        "no answer headed 'Does exercise decrease the result of BOTOX' by 'Sydney Surgeon' "
        "in the source",
    )


def test_citation_pairing_a_heading_with_another_answers_clinician_is_a_problem(
    folder: Path,
) -> None:
    text = edit(
        SHIPPED,
        'clinician = "Seattle Facial Plastic Surgeon"',
        'clinician = "Manhattan Dermatologist"',
    )
    path, problems = problems_of(folder, text)
    assert only(problems) == Problem(
        str(path),
        "steps[0].instructions[0].citations[1]",
        "no answer headed 'Exercise after Botox' by 'Manhattan Dermatologist' in the source",
    )


def test_quote_not_in_the_cited_answer_is_a_problem(folder: Path) -> None:
    text = edit(SHIPPED, "for at least six hours after", "for at least two hours after")
    path, problems = problems_of(folder, text)
    assert only(problems) == Problem(
        str(path), "steps[0].instructions[0].citations[2].quote", "quote not found in that answer"
    )


def test_quote_from_another_answer_under_the_same_heading_is_a_problem(folder: Path) -> None:
    # The Seattle answer's words, cited to the Beverly Hills answer of the same heading.
    text = edit(
        SHIPPED,
        'quote = "The manufacturer recommends no exercise or lying flat for four hours"',
        'quote = "limit your exercise activities for at least 4 hours"',
    )
    path, problems = problems_of(folder, text)
    assert only(problems) == Problem(
        str(path), "steps[0].instructions[0].citations[0].quote", "quote not found in that answer"
    )


# --- strict loading: times -----------------------------------------------------------------


@pytest.mark.parametrize("offset", ["4 hours", "soon"])
def test_bad_offset_is_a_problem(folder: Path, offset: str) -> None:
    text = edit(SHIPPED, 'offset = "0m"', f'offset = "{offset}"')
    path, problems = problems_of(folder, text)
    assert only(problems) == Problem(str(path), "steps[0].offset", f"{offset!r} {NOT_A_DURATION}")


@pytest.mark.parametrize("expires", ["half a day", "12 hours", "restriction_end + later"])
def test_bad_expires_is_a_problem(folder: Path, expires: str) -> None:
    text = edit(SHIPPED, 'expires = "12h"', f'expires = "{expires}"')
    path, problems = problems_of(folder, text)
    problem = only(problems)
    assert (problem.file, problem.key) == (str(path), "steps[1].expires")
    assert NOT_A_DURATION in problem.message


def test_bad_min_useful_is_a_problem(folder: Path) -> None:
    text = edit(SHIPPED, 'min_useful = "15m"', 'min_useful = "15 minutes"')
    path, problems = problems_of(folder, text)
    assert only(problems) == Problem(
        str(path), "steps[0].min_useful", f"'15 minutes' {NOT_A_DURATION}"
    )


def test_not_before_on_a_step_not_due_at_restriction_end_is_a_problem(folder: Path) -> None:
    text = edit(SHIPPED, 'id = "avoid"\n', 'id = "avoid"\nnot_before = "restriction_end"\n')
    path, problems = problems_of(folder, text)
    assert only(problems) == Problem(
        str(path), "steps[0].offset", "a step with not_before must be due at restriction_end"
    )


OUT_OF_ORDER = (
    "steps must be in order of offset for every restriction length a clinic may set (30m to 7d)"
)


def test_steps_out_of_order_is_a_problem(folder: Path) -> None:
    header, avoid, all_clear = SHIPPED.split("\n[[steps]]\n")
    text = f"{header}\n[[steps]]\n{all_clear}\n[[steps]]\n{avoid}"
    path, problems = problems_of(folder, text)
    assert only(problems) == Problem(str(path), "steps[1].offset", OUT_OF_ORDER)


def test_steps_in_order_only_for_short_restrictions_are_a_problem(folder: Path) -> None:
    # restriction_end then 5h: in order for a 4 h restriction, not for 24 h.
    text = edit(
        SHIPPED, 'offset = "restriction_end"\nnot_before = "restriction_end"\n', 'offset = "5h"\n'
    )
    header, avoid, all_clear = text.split("\n[[steps]]\n")
    late = all_clear.replace('id = "all_clear"', 'id = "late_check"')
    anchored = SHIPPED.split("\n[[steps]]\n")[2]
    text = f"{header}\n[[steps]]\n{avoid}\n[[steps]]\n{anchored}\n[[steps]]\n{late}"
    path, problems = problems_of(folder, text)
    assert only(problems) == Problem(str(path), "steps[2].offset", OUT_OF_ORDER)


def test_duplicate_step_ids_are_a_problem(folder: Path) -> None:
    text = edit(SHIPPED, 'id = "all_clear"', 'id = "avoid"')
    path, problems = problems_of(folder, text)
    assert only(problems) == Problem(str(path), "steps[1].id", "duplicate step id 'avoid'")


# --- strict loading: templates -------------------------------------------------------------

# A fragment of each template of the first step that contains `{until}`.
UNTIL_FRAGMENTS = {
    "sms": "(until {until})",
    "email_subject": '"Your aftercare until {until}"',
    "email_body": "For the next {remaining}, until {until}, please:",
}


@pytest.mark.parametrize("field", list(UNTIL_FRAGMENTS))
def test_unknown_template_variable_is_a_problem(folder: Path, field: str) -> None:
    fragment = UNTIL_FRAGMENTS[field]
    text = edit(SHIPPED, fragment, fragment.replace("{until}", "{patient_full}"))
    path, problems = problems_of(folder, text)
    assert only(problems) == Problem(
        str(path), f"steps[0].{field}", "unknown template variable {patient_full}"
    )


@pytest.mark.parametrize("malformed", ["{until:%H}", "{0}"])
@pytest.mark.parametrize("field", list(UNTIL_FRAGMENTS))
def test_malformed_template_field_is_a_problem(folder: Path, field: str, malformed: str) -> None:
    fragment = UNTIL_FRAGMENTS[field]
    text = edit(SHIPPED, fragment, fragment.replace("{until}", malformed))
    path, problems = problems_of(folder, text)
    name = malformed.strip("{}").split(":")[0]
    assert only(problems) == Problem(
        str(path),
        f"steps[0].{field}",
        f"'{{{name}}}' must be a plain {{name}} with no format or index",
    )


# --- strict loading: files and folders -----------------------------------------------------


def test_treatment_not_matching_the_file_name_is_a_problem(folder: Path) -> None:
    text = edit(SHIPPED, 'treatment = "botox"', 'treatment = "dysport"')
    path, problems = problems_of(folder, text)
    assert only(problems) == Problem(str(path), "treatment", "must match the file name 'botox'")


def test_policy_copied_under_another_file_name_is_a_problem(folder: Path) -> None:
    path, problems = problems_of(folder, SHIPPED, name="dysport.toml")
    assert only(problems) == Problem(str(path), "treatment", "must match the file name 'dysport'")


def test_missing_source_file_is_a_problem(folder: Path) -> None:
    text = edit(
        SHIPPED,
        'source = "../sources/botox-exercise-answers.txt"',
        'source = "../sources/missing.txt"',
    )
    path, problems = problems_of(folder, text)
    assert only(problems) == Problem(str(path), "source", "file '../sources/missing.txt' not found")


def test_source_is_resolved_next_to_the_policy_file(tmp_path: Path) -> None:
    # A copy without the sources folder beside it cannot find its relative source.
    policies = tmp_path / "policies"
    policies.mkdir()
    path, problems = problems_of(policies, SHIPPED)
    assert only(problems) == Problem(
        str(path), "source", "file '../sources/botox-exercise-answers.txt' not found"
    )


def test_absolute_source_path_loads(tmp_path: Path) -> None:
    source = SOURCES / "botox-exercise-answers.txt"
    text = edit(SHIPPED, 'source = "../sources/botox-exercise-answers.txt"', f'source = "{source}"')
    write(tmp_path, text)
    policy_set, problems = check_policies(tmp_path)
    assert problems == []
    assert policy_set.treatments == ["botox"]


def test_invalid_toml_is_a_problem(folder: Path) -> None:
    path, problems = problems_of(folder, SHIPPED + '\n[[steps]\nid = "broken"\n')
    problem = only(problems)
    assert (problem.file, problem.key) == (str(path), "(file)")
    assert problem.message.startswith("not valid TOML: ")


def test_file_that_is_not_utf8_is_a_problem(folder: Path) -> None:
    path = folder / "botox.toml"
    path.write_bytes(SHIPPED.encode("utf-8").replace(b"Botox", b"B\xf6tox", 1))
    policy_set, problems = check_policies(folder)
    assert policy_set.policies == {}
    problem = only(problems)
    assert (problem.file, problem.key) == (str(path), "(file)")
    assert problem.message.startswith("not valid TOML: ")


def test_empty_folder_is_a_problem(folder: Path) -> None:
    policy_set, problems = check_policies(folder)
    assert policy_set.policies == {}
    assert problems == [Problem(str(folder), "(folder)", "no policy files (*.toml)")]


def test_folder_without_toml_files_is_a_problem(folder: Path) -> None:
    (folder / "README.md").write_text("notes\n", encoding="utf-8")
    (folder / "botox.toml.bak").write_text(SHIPPED, encoding="utf-8")
    _, problems = check_policies(folder)
    assert problems == [Problem(str(folder), "(folder)", "no policy files (*.toml)")]


def test_missing_folder_is_a_problem(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    policy_set, problems = check_policies(missing)
    assert policy_set.policies == {}
    assert problems == [Problem(str(missing), "(folder)", "policy folder not found")]


# --- every problem is reported -------------------------------------------------------------


def _many_semantic_problems() -> str:
    text = edit(SHIPPED, 'offset = "0m"', 'offset = "soon"')
    text = edit(text, 'clinician = "Sydney Plastic Surgeon"', 'clinician = "Sydney Surgeon"')
    text = edit(text, 'id = "all_clear"', 'id = "avoid"')
    text = edit(text, 'expires = "12h"', 'expires = "half a day"')
    return edit(text, 'and call {clinic_phone}"', 'and call {patient_full}"')


def test_several_problems_in_one_file_are_all_reported(folder: Path) -> None:
    path, problems = problems_of(folder, _many_semantic_problems())
    assert {p.file for p in problems} == {str(path)}
    assert sorted(p.key for p in problems) == sorted(
        [
            "steps[0].offset",
            "steps[0].instructions[0].citations[3]",
            "steps[1].id",
            "steps[1].expires",
            "steps[1].sms",
        ]
    )


def test_several_unknown_or_invalid_keys_in_one_file_are_all_reported(folder: Path) -> None:
    text = edit(SHIPPED, 'product_name = "Botox"\n', 'product_name = "Botox"\ncolour = "blue"\n')
    text = edit(text, 'id = "avoid"\n', 'id = "avoid"\nfrequency = "daily"\n')
    text = edit(text, "may_wait = true\n", 'may_wait = "sometimes"\n')
    path, problems = problems_of(folder, text)
    assert {p.file for p in problems} == {str(path)}
    assert sorted(p.key for p in problems) == sorted(
        ["colour", "steps[0].frequency", "steps[1].may_wait"]
    )


def test_an_unknown_key_does_not_hide_the_other_problems_in_the_file(folder: Path) -> None:
    text = edit(SHIPPED, 'product_name = "Botox"\n', 'product_name = "Botox"\ncolour = "blue"\n')
    text = edit(text, 'offset = "0m"', 'offset = "soon"')
    text = edit(text, 'clinician = "Sydney Plastic Surgeon"', 'clinician = "Sydney Surgeon"')
    path, problems = problems_of(folder, text)
    assert {p.file for p in problems} == {str(path)}
    assert sorted(p.key for p in problems) == sorted(
        ["colour", "steps[0].offset", "steps[0].instructions[0].citations[3]"]
    )


def test_problems_of_every_file_are_reported_and_good_files_still_load(folder: Path) -> None:
    write(folder, SHIPPED)
    broken = write(
        folder, edit(SHIPPED, 'treatment = "botox"', 'treatment = "fillers"'), "dysport.toml"
    )
    policy_set, problems = check_policies(folder)
    assert policy_set.treatments == ["botox"]
    assert problems == [Problem(str(broken), "treatment", "must match the file name 'dysport'")]


def test_load_policies_raises_config_error_naming_every_problem(folder: Path) -> None:
    write(folder, _many_semantic_problems())
    _, problems = check_policies(folder)
    assert len(problems) == 5
    with pytest.raises(ConfigError, match="invalid policies") as caught:
        load_policies(folder)
    message = str(caught.value)
    for problem in problems:
        assert str(problem) in message


def test_load_policies_raises_config_error_for_an_empty_folder(folder: Path) -> None:
    with pytest.raises(ConfigError, match=re.escape("no policy files (*.toml)")):
        load_policies(folder)


def test_problem_reads_file_key_message() -> None:
    assert (
        str(Problem("p/botox.toml", "steps[0].offset", "bad"))
        == "p/botox.toml: steps[0].offset: bad"
    )


# --- the `reminders policies check` command ------------------------------------------------


@pytest.fixture
def broken_folder(folder: Path) -> Path:
    text = edit(SHIPPED, 'offset = "0m"', 'offset = "4 hours"')
    text = edit(text, 'and call {clinic_phone}"', 'and call {patient_full}"')
    text = edit(text, 'clinician = "Sydney Plastic Surgeon"', 'clinician = "Sydney Surgeon"')
    write(folder, text)
    return folder


def test_cli_check_of_shipped_folder_exits_zero_and_prints_ok(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(REPO)
    result = CliRunner().invoke(app, ["policies", "check"])
    assert result.exit_code == 0, result.output
    assert "1 policy file(s) OK" in result.stdout


def test_cli_check_with_directory_of_shipped_folder_exits_zero() -> None:
    result = CliRunner().invoke(app, ["policies", "check", "--directory", str(POLICIES)])
    assert result.exit_code == 0, result.output
    assert "OK" in result.stdout
    assert result.stderr == ""


def test_cli_check_of_broken_copy_exits_non_zero(broken_folder: Path) -> None:
    result = CliRunner().invoke(app, ["policies", "check", "--directory", str(broken_folder)])
    assert result.exit_code != 0
    assert "OK" not in result.stdout
    assert "3 problem(s)" in result.stderr


def test_cli_check_prints_each_problem_on_a_line_with_its_file_and_key(
    broken_folder: Path,
) -> None:
    _, problems = check_policies(broken_folder)
    assert len(problems) == 3
    result = CliRunner().invoke(app, ["policies", "check", "--directory", str(broken_folder)])
    lines = [line.rstrip() for line in result.stderr.splitlines()]
    for problem in problems:
        assert str(problem) in lines, result.stderr
