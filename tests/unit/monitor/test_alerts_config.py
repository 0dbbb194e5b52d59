"""The ``alerting:`` section: compiled at load, every mistake reported with file:line and a
hint, secrets never quoted."""

from __future__ import annotations

import pytest

from monitor.config import Config
from monitor.configload import AlertingPlan, ConfigError, alerting_plan, summary
from tests.unit.monitor.test_config import ACCOUNT, REGISTRY, parse, problems

HEAD = """\
probes:
  - {name: edge, type: ping, target: example.com}
  - {name: core, type: ping, target: example.org}
alerting:
"""
RULE = """\
  rules:
    - name: edge_down
      select: {probes: [edge]}
      condition: status == "crit"
      severity: critical
      summary: "${probe} down after ${values.duration_ms:.0f} ms"
"""
SLACK = """\
  notifiers:
    slack:
      type: slack
      webhook_url: https://hooks.slack.example/services/T0/B0/s3cr3tHookValue
"""
PACK = b"""\
rules:
  - name: slow
    condition: values.duration_ms > 500.0
    severity: warning
    summary: "$probe is slow"
"""


def plan_of(config: Config) -> AlertingPlan:
    """The plan the loader attached to ``config``."""
    plan = alerting_plan(config, REGISTRY)
    assert plan is not None
    return plan


def test_a_config_without_alerting_has_no_plan() -> None:
    """Alerting is off unless configured: no outbox, no state files."""
    assert alerting_plan(parse(HEAD.removesuffix("alerting:\n")), REGISTRY) is None


def test_inline_rules_and_rule_files_make_one_rule_set() -> None:
    """Packs from rule_files (relative to the config's directory) and inline rules load
    together, in that order."""
    text = HEAD + "  rule_files: [rules/slow.yaml]\n" + RULE
    config = parse(text, files={"/etc/flarewatch/rules/slow.yaml": PACK})
    plan = plan_of(config)
    assert ["slow", "edge_down"] == [r.name for r in plan.engine.rules]
    assert ("/etc/flarewatch/rules/slow.yaml",) == plan.rule_files


def test_templates_in_inline_rules_are_not_taken_for_environment_variables() -> None:
    """``${values.x}`` in a summary is a template, not ``${VAR}``: no 'not set' error."""
    plan = plan_of(parse(HEAD + RULE))
    [rule] = list(plan.engine.rules)
    assert "${probe} down after ${values.duration_ms:.0f} ms" == rule.rule.summary


def test_without_a_route_every_notifier_hears_every_alert() -> None:
    """The default route: all configured notifiers, Alertmanager's timers."""
    plan = plan_of(parse(HEAD + RULE + SLACK))
    assert ("slack",) == plan.engine.routes.root.receivers


def test_without_notifiers_alerts_are_kept_but_sent_nowhere() -> None:
    """Rules alone are useful (API, status page): the route has no receivers."""
    assert () == plan_of(parse(HEAD + RULE)).engine.routes.root.receivers


def test_the_builtin_inhibit_rules_apply_unless_turned_off() -> None:
    """Configured inhibit rules add to the built-in ones; the switch drops the built-ins."""
    extra = "  inhibit_rules:\n    - {source_matchers: ['a=\"1\"'], target_matchers: ['b=\"2\"']}\n"
    with_builtins = plan_of(parse(HEAD + RULE + extra)).engine.inhibit_rules
    without = plan_of(
        parse(HEAD + RULE + extra + "  builtin_inhibit_rules: false\n")
    ).engine.inhibit_rules
    assert 1 == len(without)
    assert len(with_builtins) == len(without) + 3


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        (
            RULE.replace("probes: [edge]", "probes: [egde]"),
            "test.yaml:7:25: alerting.rules[0].select.probes[0]",
            "no probe is called 'egde'",
        ),
        (
            RULE.replace("duration_ms:.0f", "duration_sm:.0f"),
            "test.yaml:10:16: alerting.rules[0].summary",
            "${values.duration_sm} is not published",
        ),
        (
            RULE.replace('status == "crit"', 'status == "critical"'),
            "test.yaml:8:18: alerting.rules[0].condition",
            "did you mean 'crit'?",
        ),
        (
            RULE.replace("severity: critical", "severity: high"),
            "test.yaml:9:17: alerting.rules[0].severity",
            "rule 'edge_down'",
        ),
        (
            RULE + SLACK + "  route: {receivers: [slak]}\n",
            "test.yaml:15:23: alerting.route.receivers[0]",
            "unknown notifier 'slak'; did you mean 'slack'?",
        ),
        (
            RULE + SLACK + "  route: {receivers: [slack], group_by: [1zone]}\n",
            "test.yaml:15:42: alerting.route.group_by[0]",
            "'1zone' is not a label name",
        ),
        (
            RULE
            + "  remediations:\n    - name: fix\n      when: {rule: edge_dwn}\n"
            + "      action: {type: worker_rollback, script: api}\n",
            "test.yaml:13:20: alerting.remediations[0].when.rule",
            "no alert rule is called 'edge_dwn'",
        ),
        (
            RULE + "  inhibit_rules:\n    - {source_matchers: ['a=\"1'], target_matchers: [b=2]}\n",
            "test.yaml:12:7: alerting.inhibit_rules[0]",
            "unterminated quoted value",
        ),
        (
            "  rule_files: [missing.yaml]\n",
            "test.yaml:5:16: alerting.rule_files[0]",
            "no such rule file: /etc/flarewatch/missing.yaml",
        ),
    ],
)
def test_each_mistake_is_reported_at_its_line(text: str, where: str, message: str) -> None:
    """A start-up error names the file, line, column and key of the mistake."""
    found = [str(p) for p in problems(HEAD + text)]
    assert any(p.startswith(where) and message in p for p in found), "\n".join(found)


def test_a_mistake_in_a_rule_file_is_reported_in_that_file() -> None:
    """The problem's place is the pack file's own line, not the main config's."""
    pack = PACK.replace(b"duration_ms", b"duration_sm")
    found = problems(
        HEAD + "  rule_files: [rules/slow.yaml]\n",
        files={"/etc/flarewatch/rules/slow.yaml": pack},
    )
    [problem] = found
    assert ("/etc/flarewatch/rules/slow.yaml", 3, "rules[0].condition") == (
        problem.file,
        problem.line,
        problem.path,
    )


def test_yaml_errors_in_a_rule_file_are_located_there() -> None:
    """A broken pack file is a YAML problem in that file, with its line."""
    found = problems(
        HEAD + "  rule_files: [bad.yaml]\n",
        files={"/etc/flarewatch/bad.yaml": b"rules:\n  - name: x\n   bad: [\n"},
    )
    [problem] = found
    assert ("/etc/flarewatch/bad.yaml", 3) == (problem.file, problem.line)
    assert problem.message.startswith("not valid YAML")


def test_rule_names_are_unique_across_files_and_inline_rules() -> None:
    """Two rules called the same would share alert identities: refused, naming the first."""
    pack = PACK.replace(b"name: slow", b"name: edge_down")
    found = problems(
        HEAD + "  rule_files: [p.yaml]\n" + RULE, files={"/etc/flarewatch/p.yaml": pack}
    )
    assert any("duplicate rule name" in p.message for p in found), found


def test_a_notifier_without_its_secret_is_an_error_at_its_key() -> None:
    """PagerDuty without a routing key cannot page: say so where it is configured."""
    text = HEAD + "  notifiers:\n    pd: {type: pagerduty}\n"
    [problem] = problems(text)
    assert ("alerting.notifiers.pd.routing_key", 6) == (problem.path, problem.line)
    assert "required key 'routing_key' is missing" in problem.message


def test_a_bad_notifier_name_is_an_error() -> None:
    """Notifier names become metric labels: plain and short."""
    [problem] = problems(HEAD + "  notifiers:\n    'my slack': {type: console}\n")
    assert "not a valid notifier name" in problem.message
    assert problem.path.startswith("alerting.notifiers")


def test_secrets_never_appear_in_errors() -> None:
    """A webhook URL given where a number belongs is not echoed back."""
    secret = "https://hooks.slack.example/services/T0/B0/s3cr3tHookValue"
    text = (
        HEAD
        + SLACK
        + f"      max_alerts: {secret}\n"
        + "    pd: {type: pagerduty, routing_key: short}\n"
    )
    report = ConfigError(problems(text)).report()
    assert secret not in report
    assert "short" not in report.replace("shorter", "")


def test_notifier_secrets_can_come_from_files() -> None:
    """``routing_key_file`` reads the key from a file, like every other secret."""
    text = HEAD + "  notifiers:\n    pd: {type: pagerduty, routing_key_file: /run/pd}\n"
    key = "R0UT1NGk3yR0UT1NGk3yR0UT1NGk3y00"
    plan = plan_of(parse(text, files={"/run/pd": key.encode() + b"\n"}))
    assert key == plan.settings.notifiers["pd"].routing_key.get_secret_value()  # type: ignore[union-attr]


def test_a_config_built_without_the_loader_is_compiled_on_first_use() -> None:
    """Programs that build a Config themselves still get the rules checked."""
    data = {
        "cloudflare": {"account_id": ACCOUNT, "api_token": "t0ken"},
        "probes": [{"name": "edge", "type": "ping", "target": "example.com"}],
        "alerting": {
            "rules": [
                {
                    "name": "edge_down",
                    "condition": 'status == "crit"',
                    "severity": "critical",
                    "summary": "$probe down",
                }
            ]
        },
    }
    fresh = Config.model_validate(data, context={"registry": REGISTRY})
    assert ["edge_down"] == [r.name for r in plan_of(fresh).engine.rules]


def test_a_config_built_without_the_loader_still_refuses_bad_rules() -> None:
    """The same checks, without line numbers: the error names the key."""
    data = {
        "cloudflare": {"account_id": ACCOUNT, "api_token": "t0ken"},
        "alerting": {"rules": [{"name": "x", "condition": "status ==", "severity": "info"}]},
    }
    fresh = Config.model_validate(data, context={"registry": REGISTRY})
    with pytest.raises(ConfigError, match=r"alerting\.rules\[0\]\.condition"):
        alerting_plan(fresh, REGISTRY)


def test_check_config_counts_rules_and_notifiers() -> None:
    """`flarewatch check-config` says how much alerting it found."""
    text = summary("test.yaml", parse(HEAD + RULE + SLACK))
    assert text.endswith("; 1 alert rule, 1 notifier")


def test_rule_and_route_problems_come_with_the_other_problems_of_the_file() -> None:
    """One run of check-config lists everything: a notifier missing its key does not hide
    a rule's or a route's mistakes until it is fixed."""
    text = (
        HEAD
        + RULE.replace("probes: [edge]", "probes: [egde]")
        + "  notifiers:\n    pd: {type: pagerduty}\n"
        + "  route: {receivers: [pdd]}\n"
    )
    paths = [p.path for p in problems(text)]
    assert [
        "alerting.rules[0].select.probes[0]",
        "alerting.notifiers.pd.routing_key",
        "alerting.route.receivers[0]",
    ] == paths
