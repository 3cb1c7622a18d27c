"""A channel's rules for what a call leaves behind: the template a new contact is made from, the
task rules (which calls create which task, for whom, due when), and where the call is attached.

The rules are channel settings checked against `schemas/channel-rules.schema.json` when the
channel is saved, so a mistake is a 422 naming it, not a call processed wrongly later. Titles,
names and fields are sandboxed Jinja2 templates over the call's values (`CONTACT_NAMES`,
`TASK_NAMES`). Pure: the follow-up activity reads the store and applies what this decides.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Final

import yaml
from jinja2 import StrictUndefined, TemplateError
from jinja2.meta import find_undeclared_variables
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

from contracts.phones import read_phone
from crm.records import Task
from schemas import load_schema

__all__ = [
    "ATTACH_SETTING",
    "ATTACH_TARGETS",
    "CONTACT_NAMES",
    "CONTACT_TEMPLATE_SETTING",
    "RULE_SETTINGS",
    "TASK_NAMES",
    "TASK_RULES_SETTING",
    "AttachOption",
    "CallFacts",
    "ContactTemplate",
    "NewTask",
    "RuleError",
    "TaskConditions",
    "TaskRule",
    "attach_option",
    "check_rule_settings",
    "contact_template",
    "render",
    "task_rules",
]

CONTACT_TEMPLATE_SETTING: Final = "contact_template"
TASK_RULES_SETTING: Final = "task_rules"
ATTACH_SETTING: Final = "attach_to"
RULE_SETTINGS: Final = (CONTACT_TEMPLATE_SETTING, TASK_RULES_SETTING, ATTACH_SETTING)
SCHEMA: Final = "channel-rules.schema.json"

ATTACH_TARGETS: Final = ("contact", "latest_active_task", "matching_task", "new_task")

# What a new contact's name and fields are made of: the number as stored and as the PBX sent it,
# the line (its name, else the number called), the name the PBX gave, the direction.
CONTACT_NAMES: Final = frozenset({"phone", "raw", "line", "virtual_number", "name", "direction"})
# What a task's title, description and fields may read: also who the contact is (its name, else
# its number), the call's kind, its employee, times and the rule's name.
TASK_NAMES: Final = CONTACT_NAMES | {
    "contact",
    "kind",
    "employee",
    "call_id",
    "started_at",
    "wait_seconds",
    "talk_seconds",
    "rule",
}


class RuleError(ValueError):
    """A channel rule that cannot be used; the message starts with where it is."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path


# -- what the rules say, parsed ----------------------------------------------------------------


@dataclass(frozen=True)
class ContactTemplate:
    name: str | None = None
    fields: dict[str, str] = field(default_factory=dict)
    responsible_employee_ids: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class CallFacts:
    """What task rules' conditions look at."""

    kind: str
    direction: str | None
    line_name: str | None
    virtual_number: str | None
    employee_id: int | None
    new_contact: bool
    # the channel's region: a line written as a national number is read in it
    country: str = "RU"


@dataclass(frozen=True)
class TaskRule:
    name: str
    title: str
    description: str | None = None
    kinds: tuple[str, ...] = ()
    directions: tuple[str, ...] = ()
    lines: tuple[str, ...] = ()
    employee_ids: tuple[int, ...] = ()
    new_contact: bool | None = None
    type: str | None = None
    fields: dict[str, str] = field(default_factory=dict)
    # "responsible" | "employee" | an employee id; then `default_assignee` when that gives nobody
    assignee: str | int = "responsible"
    default_assignee: int | None = None
    due_in_minutes: int | None = None
    closes_on_contact: bool = False

    def matches(self, facts: CallFacts) -> bool:
        """Every condition given holds for the call."""
        return (
            (not self.kinds or facts.kind in self.kinds)
            and (not self.directions or facts.direction in self.directions)
            and (not self.lines or any(_same_line(line, facts) for line in self.lines))
            and (not self.employee_ids or facts.employee_id in self.employee_ids)
            and (self.new_contact is None or facts.new_contact == self.new_contact)
        )


@dataclass(frozen=True)
class NewTask:
    """The task made for a call by the attach option ("a new task for every call", or the
    fallback when no task matches)."""

    title: str = (
        "{{ 'Incoming call from' if direction == 'in' else 'Outgoing call to' }} {{ contact }}"
    )
    description: str | None = None
    type: str | None = None
    fields: dict[str, str] = field(default_factory=dict)
    assignee: str | int = "employee"
    default_assignee: int | None = None
    due_in_minutes: int | None = None


@dataclass(frozen=True)
class TaskConditions:
    """Which of the contact's tasks a call may be attached to; none given: any."""

    statuses: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    assignees: tuple[str | int, ...] = ()
    fields: dict[str, str] = field(default_factory=dict)

    def matches(
        self, task: Task, *, responsible_ids: Sequence[int], employee_id: int | None
    ) -> bool:
        if self.statuses and task.status not in self.statuses:
            return False
        if self.types and task.type not in self.types:
            return False
        if self.assignees and not any(
            _assigned(task, who, responsible_ids, employee_id) for who in self.assignees
        ):
            return False
        return all(task.fields.get(name) == value for name, value in self.fields.items())


@dataclass(frozen=True)
class AttachOption:
    """Where a call hangs: the contact (the default), the contact's latest active task, its
    latest task matching `conditions`, or a new task for every call; `if_none` says what a
    task option does when the contact has no such task. `hidden`: also as a hidden comment."""

    target: str = "contact"
    hidden: bool = False
    conditions: TaskConditions = field(default_factory=TaskConditions)
    if_none: str = "contact"
    new_task: NewTask = field(default_factory=NewTask)


# -- reading the settings --------------------------------------------------------------------


def check_rule_settings(settings: Mapping[str, Any]) -> None:
    """Raise RuleError naming the first problem in the channel's rule settings (those given);
    settings other than the rules are not looked at."""
    contact_template(settings)
    task_rules(settings)
    attach_option(settings)


def contact_template(settings: Mapping[str, Any]) -> ContactTemplate | None:
    value = settings.get(CONTACT_TEMPLATE_SETTING)
    if value is None:
        return None
    _validate(CONTACT_TEMPLATE_SETTING, value, "contact_template")
    path = CONTACT_TEMPLATE_SETTING
    name = value.get("name")
    if name is not None:
        _check_template(f"{path}.name", name, CONTACT_NAMES)
    fields = dict(value.get("fields") or {})
    for key, source in fields.items():
        _check_template(f"{path}.fields.{key}", source, CONTACT_NAMES)
    return ContactTemplate(
        name=name,
        fields=fields,
        responsible_employee_ids=list(dict.fromkeys(value.get("responsibles") or [])),
    )


def task_rules(settings: Mapping[str, Any]) -> list[TaskRule]:
    """The channel's task rules, in order; YAML text is read as the list it holds."""
    value = settings.get(TASK_RULES_SETTING)
    if value is None:
        return []
    if isinstance(value, str):
        try:
            value = yaml.safe_load(value)
        except yaml.YAMLError as error:
            raise RuleError(TASK_RULES_SETTING, f"not valid YAML ({_one_line(error)})") from None
        if value is None:
            return []
    if not isinstance(value, list):
        raise RuleError(TASK_RULES_SETTING, "must be a list of rules (or YAML text of one)")
    rules: list[TaskRule] = []
    for index, item in enumerate(value):
        path = f"{TASK_RULES_SETTING}[{index}]"
        _validate(path, item, "task_rule")
        name = item.get("name") or f"rule {index + 1}"
        if any(rule.name == name for rule in rules):
            raise RuleError(f"{path}.name", f"another rule is already named {name!r}")
        for key in ("title", "description"):
            if item.get(key) is not None:
                _check_template(f"{path}.{key}", item[key], TASK_NAMES)
        fields = dict(item.get("fields") or {})
        for key, source in fields.items():
            _check_template(f"{path}.fields.{key}", source, TASK_NAMES)
        when = item.get("when") or {}
        rules.append(
            TaskRule(
                name=name,
                title=item["title"],
                description=item.get("description"),
                kinds=_many(when.get("kind")),
                directions=_many(when.get("direction")),
                lines=_many(when.get("line")),
                employee_ids=_many(when.get("employee")),
                new_contact=when.get("new_contact"),
                type=item.get("type"),
                fields=fields,
                assignee=item.get("assignee", "responsible"),
                default_assignee=item.get("default_assignee"),
                due_in_minutes=item.get("due_in_minutes"),
                closes_on_contact=bool(item.get("closes_on_contact", False)),
            )
        )
    return rules


def attach_option(settings: Mapping[str, Any]) -> AttachOption:
    value = settings.get(ATTACH_SETTING)
    if value is None:
        return AttachOption()
    _validate(ATTACH_SETTING, value, "attach_to")
    conditions = value.get("conditions") or {}
    new_task = dict(value.get("new_task") or {})
    for key in ("title", "description"):
        if new_task.get(key) is not None:
            _check_template(f"{ATTACH_SETTING}.new_task.{key}", new_task[key], TASK_NAMES)
    for key, source in (new_task.get("fields") or {}).items():
        _check_template(f"{ATTACH_SETTING}.new_task.fields.{key}", source, TASK_NAMES)
    return AttachOption(
        target=value["target"],
        hidden=bool(value.get("hidden", False)),
        conditions=TaskConditions(
            statuses=_many(conditions.get("status")),
            types=_many(conditions.get("type")),
            assignees=_many(conditions.get("assignee")),
            fields=dict(conditions.get("fields") or {}),
        ),
        if_none=value.get("if_none", "contact"),
        new_task=NewTask(**new_task),
    )


# -- templates -------------------------------------------------------------------------------


def render(source: str, values: Mapping[str, Any]) -> str:
    """A rule's template rendered over the call's values (None renders as nothing); RuleError
    when it fails (e.g. a filter given a value it cannot take)."""
    try:
        return _environment().from_string(source).render(values).strip()
    except (TemplateError, ArithmeticError, TypeError, ValueError) as error:
        raise RuleError("template", _one_line(error)) from None


@cache
def _environment() -> ImmutableSandboxedEnvironment:
    return ImmutableSandboxedEnvironment(
        undefined=StrictUndefined,
        autoescape=False,
        finalize=lambda value: "" if value is None else value,
    )


def _check_template(path: str, source: str, names: frozenset[str]) -> None:
    environment = _environment()
    try:
        parsed = environment.parse(source)
        environment.compile(parsed)
    except TemplateError as error:
        raise RuleError(path, f"not a valid template ({_one_line(error)})") from None
    unknown = sorted(find_undeclared_variables(parsed) - names)
    if unknown:
        raise RuleError(
            path, f"unknown name {unknown[0]!r} (a template may use {', '.join(sorted(names))})"
        )


# -- helpers ---------------------------------------------------------------------------------


@cache
def _validator(definition: str) -> Draft202012Validator:
    """A validator of one of the schema's definitions (each setting is checked on its own)."""
    schema = load_schema(SCHEMA)
    return Draft202012Validator(
        {
            "$schema": schema["$schema"],
            "$id": schema["$id"],
            "$defs": schema["$defs"],
            "$ref": f"#/$defs/{definition}",
        }
    )


def _validate(path: str, value: Any, definition: str) -> None:
    error: ValidationError | None = best_match(_validator(definition).iter_errors(value))
    if error is None:
        return
    where = path + "".join(
        f"[{part}]" if isinstance(part, int) else f".{part}" for part in error.absolute_path
    )
    raise RuleError(where, _schema_message(error))


def _schema_message(error: ValidationError) -> str:
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        return f"{error.message} (known: {', '.join(allowed)})"
    if error.validator == "oneOf":
        # Which alternatives there were says more than "not valid under any of the given schemas".
        return f"{error.instance!r} is not allowed here ({_alternatives(error.schema['oneOf'])})"
    return error.message


def _alternatives(options: list[dict[str, Any]]) -> str:
    said = []
    for option in options:
        if "enum" in option:
            said.append(" or ".join(repr(value) for value in option["enum"]))
        elif option.get("$ref", "").endswith("employee_id"):
            said.append("an employee id")
        elif option.get("type") == "array":
            said.append("a list of them")
        elif option.get("type") == "string":
            said.append("a text")
        elif "$ref" in option:
            said.append(option["$ref"].rsplit("/", 1)[-1].replace("_", " "))
    return ", or ".join(said) or "see the schema"


def _many(value: Any) -> tuple[Any, ...]:
    if value is None:
        return ()
    return tuple(value) if isinstance(value, list) else (value,)


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def _same_line(line: str, facts: CallFacts) -> bool:
    """A rule's line names the call's line, or its number in any formatting."""
    if facts.line_name and line.casefold() == facts.line_name.casefold():
        return True
    if not facts.virtual_number or not _digits(line):
        return False
    if _digits(line) == _digits(facts.virtual_number):
        return True
    number = read_phone(line, facts.country)
    return number is not None and number == read_phone(facts.virtual_number, facts.country)


def _assigned(
    task: Task, who: str | int, responsible_ids: Sequence[int], employee_id: int | None
) -> bool:
    if who == "responsible":
        return task.assignee_employee_id in responsible_ids
    if who == "employee":
        return employee_id is not None and task.assignee_employee_id == employee_id
    return task.assignee_employee_id == who


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())
