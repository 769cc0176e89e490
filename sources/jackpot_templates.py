"""Jackpot templates: versioned definitions from which instances are created.

A definition is a JSON object holding an instance's configuration: its rule fields
(`jackpot_type`, `currency`, `opt_in_required`, `contribution_type`, `contribution_value`,
`house_share`, `allowed_countries`, wager limits, ...; every editable field of
`JackpotInstance` but its identity, owner, state and start/end) and the lists `pots`,
`currency_limits` and `windows` (the editable fields of `Pot`, `InstanceCurrencyLimit` and
`ScheduleWindow`). Fields are derived from the models, so a field added to them is part of a
definition at once.

A definition is checked exactly as the admin checks an instance form (`full_clean` of every
object, then `services.pots_check`), with the admin's messages prefixed by where they apply
(`pots[0].max_magic_number: A HitRate pot needs a max magic number.`). A published version
names every field (omitted ones take the model default), decimals as plain strings, so it
means the same thing whatever the defaults become; an instance made from it copies it.
"""

from dataclasses import dataclass, field
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import models, transaction

from portal.errors import DomainError, invalid_configuration
from portal.money import plain
from sources.models import (
    InstanceCurrencyLimit,
    JackpotInstance,
    JackpotTemplate,
    JackpotTemplateVersion,
    Pot,
    ScheduleWindow,
    Source,
    SourceMapping,
)
from sources.services import checked_save, pot_create, pots_check

# What a template does not decide: who owns the instance, what it is called, its state and dates.
INSTANCE_IDENTITY = {"name", "operator", "brand", "state", "timestamp_start", "timestamp_end", "template_version"}
SECTIONS = {"pots": Pot, "currency_limits": InstanceCurrencyLimit, "windows": ScheduleWindow}


def config_fields(model: type[models.Model], excluded: set[str] = frozenset()) -> list[models.Field]:
    """The fields of `model` a definition holds: the editable ones (what its admin form shows)."""
    return [f for f in model._meta.concrete_fields
            if f.editable and not f.primary_key and f.name not in excluded
            and not (f.is_relation and f.related_model is JackpotInstance)]


def instance_fields() -> list[models.Field]:
    return config_fields(JackpotInstance, INSTANCE_IDENTITY)


# --- values -------------------------------------------------------------------------------


def _python(f: models.Field, raw):
    """A JSON value for field `f`, typed strictly (a number for a number, text for text)."""
    if raw is None:
        return None
    if isinstance(f, models.BooleanField):
        if not isinstance(raw, bool):
            raise ValidationError("Must be true or false.")
        return raw
    if isinstance(f, models.DecimalField | models.IntegerField):
        if isinstance(raw, bool) or not isinstance(raw, int | Decimal | str):
            raise ValidationError("Must be a number.")
        if isinstance(f, models.IntegerField) and isinstance(raw, Decimal) and raw != raw.to_integral_value():
            raise ValidationError("Must be a whole number.")
        return f.to_python(raw)
    if isinstance(f, models.ForeignKey):
        return f.target_field.to_python(raw)
    if not isinstance(raw, str):
        raise ValidationError("Must be text.")
    return f.to_python(raw)


def _stored(value):
    """A model value as stored in a version: JSON-native, decimals as plain strings."""
    if isinstance(value, Decimal):
        return format(plain(value), "f")
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def _row(obj: models.Model, fields: list[models.Field]) -> dict:
    return {f.name: _stored(getattr(obj, f.attname)) for f in fields}


# --- building and checking ----------------------------------------------------------------


@dataclass
class Built:
    """A definition as unsaved model objects, checked; `definition` is its stored form."""

    instance: JackpotInstance
    pots: list[Pot] = field(default_factory=list)
    currency_limits: list[InstanceCurrencyLimit] = field(default_factory=list)
    windows: list[ScheduleWindow] = field(default_factory=list)

    @property
    def definition(self) -> dict:
        return {
            **_row(self.instance, instance_fields()),
            **{name: [_row(obj, config_fields(model)) for obj in getattr(self, name)]
               for name, model in SECTIONS.items()},
        }


def _fill(obj: models.Model, fields: list[models.Field], data, where: str, errors: dict,
          extra: tuple[str, ...] = (), exclude: tuple[str, ...] = ()) -> None:
    """Set `obj`'s fields from `data` and check it as its admin form would, errors into `errors`."""
    prefix = f"{where}." if where else ""
    if not isinstance(data, dict):
        errors.setdefault(where or "definition", []).append("Must be a JSON object.")
        return
    known = {f.name: f for f in fields}
    for key in data:
        if key not in known and key not in extra:
            errors.setdefault(f"{prefix}{key}", []).append("Unknown field.")
    failed = []
    for name, f in known.items():
        if name in data:
            try:
                setattr(obj, f.attname, _python(f, data[name]))
            except ValidationError as error:
                errors.setdefault(f"{prefix}{name}", []).extend(error.messages)
                failed.append(name)
    excluded = [f.name for f in obj._meta.fields if f.is_relation and f.related_model is JackpotInstance]
    try:
        obj.full_clean(exclude=[*failed, *excluded, *exclude])
    except ValidationError as error:
        for name, messages in error.message_dict.items():
            key = (where or "__all__") if name == "__all__" else f"{prefix}{name}"
            errors.setdefault(key, []).extend(messages)


def definition_build(definition, *, instance: JackpotInstance | None = None) -> Built:
    """Check a definition as the admin checks an instance with its inlines; raise the admin's
    messages as a ValidationError keyed by where they apply. `instance` (with its owner, name
    and dates set) is filled in; without it only the definition itself is checked."""
    errors: dict[str, list[str]] = {}
    if not isinstance(definition, dict):
        raise ValidationError({"definition": ["Must be a JSON object."]})
    built = Built(instance=instance or JackpotInstance())
    # A template has no owner, name or dates: without an instance, check everything else.
    _fill(built.instance, instance_fields(), definition, "", errors, extra=tuple(SECTIONS),
          exclude=() if instance else tuple(INSTANCE_IDENTITY))
    for name, model in SECTIONS.items():
        rows = definition.get(name, [])
        if not isinstance(rows, list):
            errors.setdefault(name, []).append("Must be a list of objects.")
            continue
        for index, data in enumerate(rows):
            obj = model(jackpot=built.instance)
            _fill(obj, config_fields(model), data, f"{name}[{index}]", errors)
            getattr(built, name).append(obj)
    if not built.pots:
        errors.setdefault("pots", []).append("A jackpot needs at least one pot.")
    if not any(key.startswith("pots") for key in errors) and "house_share" not in errors:
        try:
            pots_check(jackpot_type=built.instance.jackpot_type, house_share=built.instance.house_share,
                       pots=built.pots)
        except ValidationError as error:
            errors.setdefault("pots", []).extend(error.messages)
    currencies = [limit.currency_id for limit in built.currency_limits]
    for code in sorted({c for c in currencies if currencies.count(c) > 1}):
        errors.setdefault("currency_limits", []).append(f"{code} is listed twice.")
    if errors:
        raise ValidationError(errors)
    return built


def definition_of_instance(instance: JackpotInstance) -> dict:
    """An instance's own configuration as a definition (its copy, or the start of a template)."""
    return Built(instance=instance, pots=list(instance.pots.all()),
                 currency_limits=list(instance.currency_limits.all()),
                 windows=list(instance.windows.all())).definition


def definition_shown(definition: dict) -> dict:
    """A stored definition with its decimals as numbers again (API answers, the admin)."""
    def row(data: dict, fields: list[models.Field]) -> dict:
        decimals = {f.name for f in fields if isinstance(f, models.DecimalField)}
        return {k: (Decimal(v) if k in decimals and isinstance(v, str) else v) for k, v in data.items()}

    shown = row({k: v for k, v in definition.items() if k not in SECTIONS}, instance_fields())
    for name, model in SECTIONS.items():
        shown[name] = [row(data, config_fields(model)) for data in definition.get(name, [])]
    return shown


# --- services -----------------------------------------------------------------------------


@transaction.atomic
def template_save(*, template: JackpotTemplate, definition: dict | None, actor,
                  note: str = "") -> JackpotTemplateVersion | None:
    """Create or change a template (name, owner, description). A definition that differs from
    the current version's is checked and published as the next version, returned; the same
    definition again publishes nothing (a script may send its configuration every time)."""
    note = (note or "").strip()[:500]
    if template.pk is None and definition is None:
        raise DomainError("INVALID_CONFIGURATION", "definition: A new template needs a definition.")
    stored = None
    if definition is not None:
        try:
            stored = definition_build(definition).definition
        except ValidationError as error:
            raise invalid_configuration(error) from error
    current_number = 0
    if template.pk is not None:
        current_number = JackpotTemplate.objects.select_for_update().values_list(
            "current_version", flat=True).get(pk=template.pk)
    current = template.versions.filter(version=current_number).first() if template.pk else None
    publish = stored is not None and (current is None or current.definition != stored)
    template.current_version = current_number + 1 if publish else current_number
    reason = f"version {template.current_version} published" + (f": {note}" if note else "") if publish else ""
    checked_save(template, actor=actor, reason=reason)
    if not publish:
        return None
    return JackpotTemplateVersion.objects.create(template=template, version=template.current_version,
                                                 definition=stored, note=note, created_by=_user(actor))


def _user(actor):
    return actor if getattr(actor, "is_authenticated", False) else None


def template_version(template: JackpotTemplate, number: int | None = None) -> JackpotTemplateVersion:
    number = number or template.current_version
    version = template.versions.filter(version=number).first()
    if version is None:
        raise DomainError("TEMPLATE_VERSION_NOT_FOUND", f"Template {template.name} has no version {number}")
    return version


@transaction.atomic
def instance_create_from_template(*, version: JackpotTemplateVersion, actor, name: str = "", brand=None,
                                  timestamp_start=None, timestamp_end=None, allowed_brands=(),
                                  mappings: list[tuple[Source, int]] = ()) -> JackpotInstance:
    """A new Pending instance with its own copy of the version's definition, owned by the
    template's operator (and `brand`, or the template's brand), fed by `mappings`
    (source, priority). Checked as the admin checks an instance; History names `actor`.
    Activate it with `services.instance_set_state`."""
    template = version.template
    instance = JackpotInstance(
        operator_id=template.operator_id, brand=brand or template.brand, name=name or template.name,
        state=JackpotInstance.State.PENDING, timestamp_start=timestamp_start, timestamp_end=timestamp_end,
        template_version=version)
    errors: dict[str, list[str]] = {}
    try:
        built = definition_build(version.definition, instance=instance)
    except ValidationError as error:
        errors = dict(error.message_dict)
    for brand_ in allowed_brands:
        if brand_.operator_id != template.operator_id:
            errors.setdefault("allowed_brands", []).append(f"Brand {brand_} belongs to another operator.")
    for source, _ in mappings:
        if source.operator_id != template.operator_id:
            errors.setdefault("sources", []).append(f"Source {source} belongs to another operator.")
    if errors:
        raise invalid_configuration(ValidationError(errors))
    reason = f"created from template {template.name} version {version.version}"
    checked_save(instance, actor=actor, reason=reason)
    if allowed_brands:
        instance.allowed_brands.set(allowed_brands)  # History: one more row, by the same actor
    for pot in built.pots:
        pot.jackpot = instance
        pot_create(pot=pot, actor=actor)
    for obj in [*built.currency_limits, *built.windows]:
        obj.jackpot = instance
        checked_save(obj, actor=actor, reason=reason)
    for source, priority in mappings:
        checked_save(SourceMapping(source=source, jackpot=instance, priority=priority), actor=actor, reason=reason)
    return instance


@transaction.atomic
def template_from_instance(*, instance: JackpotInstance, name: str, actor, note: str = "") -> JackpotTemplate:
    """A new template whose first version is this instance's configuration."""
    template = JackpotTemplate(operator_id=instance.operator_id, brand_id=instance.brand_id, name=name,
                               description=f"Made from the instance {instance.name} ({instance.pk}).")
    template_save(template=template, definition=definition_of_instance(instance), actor=actor,
                  note=note or f"from the instance {instance.name}")
    return template
