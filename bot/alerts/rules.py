"""Rules as the engine runs them: stored rows turned into detector instances, and config-file sync."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

from bot.config import Config, RetentionConfig, RuleSpec, retention_problem
from detectors.base import Detector, DetectorSettings
from detectors.registry import detector_classes
from storage.repo import Repo, RuleRow

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ActiveRule:
    """A stored rule with its detector instance, ready to evaluate."""

    row: RuleRow
    detector: Detector

    @property
    def id(self) -> str:
        """Return the rule id."""
        return self.row.id


class UnknownDetector(KeyError):
    """A rule names a detector that is not installed (a plugin removed since)."""


def instantiate(row: RuleRow, retention: RetentionConfig | None = None) -> Detector:
    """Build the detector instance of a stored rule (its settings are validated again here).

    Raise UnknownDetector for a detector that is not installed, and ValueError (a pydantic ValidationError,
    or a window longer than ``retention`` keeps its data) for settings that do not validate.
    """
    cls = detector_classes().get(row.detector)
    if cls is None:
        raise UnknownDetector(row.detector)
    settings = _validated(cls.Settings, json.dumps(row.settings, sort_keys=True))
    if retention is not None and (problem := retention_problem(settings, retention)) is not None:
        raise ValueError(problem)
    return cls(row.id, row.symbol, settings)


@lru_cache(maxsize=4096)
def _validated(model: type[DetectorSettings], settings_json: str) -> DetectorSettings:
    """Return the validated settings of a rule, one shared object per distinct settings.

    Settings are frozen models, so rules with the same settings (many keep a detector's defaults) share
    one instead of holding a copy each (about 0.5 KB a rule, bench.memory, issue 24). A failure is not
    cached: it raises again for the next rule.
    """
    return model.model_validate(json.loads(settings_json))


def rule_row_from_spec(spec: RuleSpec, config: Config, now: int) -> RuleRow:
    """Turn a validated config-file rule into a stored rule row."""
    common = spec.common
    cooldown = common.cooldown_seconds
    return RuleRow(
        id=common.id,
        origin="config",
        detector=common.detector,
        symbol=common.symbol,
        settings=spec.settings.model_dump(mode="json"),
        channel_id=common.channel_id,
        role_id=common.role_id,
        note=common.note,
        repeat=common.repeat,
        cooldown_s=config.engine.default_cooldown_seconds if cooldown is None else cooldown,
        pending_s=common.pending_seconds,
        pending_evaluations=common.pending_evaluations,
        enabled=common.enabled,
        status_reason=None if common.enabled else "disabled in the config file",
        created_at=now,
        updated_at=now,
        resolve_notice=common.resolve_notice,
    )


def _definition(row: RuleRow) -> tuple[Any, ...]:
    # What makes two versions of a rule "the same rule" for its detector state: the detector, the
    # symbol and its settings. Delivery options (note, role, cooldown) can change without a reset.
    return (row.detector, row.symbol, sorted(row.settings.items()))


def sync_config_rules(repo: Repo, config: Config, now: int) -> tuple[int, int, int]:
    """Store the config file's rules, reset state of changed ones, drop removed ones.

    Returns (added, changed, removed). A rule disabled by the engine (one-shot fired, expired) stays
    disabled while its definition is unchanged, so a restart does not fire it again.
    """
    added = changed = removed = 0
    with repo.transaction():
        specs = config.rule_specs()
        for spec in specs:
            row = rule_row_from_spec(spec, config, now)
            old = repo.rule(row.id)
            if old is not None and old.origin != "config":
                log.warning("config rule %s has the id of a Discord rule; the config file wins", row.id)
            if old is None:
                added += 1
            elif _definition(old) != _definition(row):
                changed += 1
                repo.delete_rule(row.id)  # cascades to detector and alert state: a new level starts fresh
            else:
                engine_disabled = not old.enabled and old.status_reason not in (
                    None,
                    "disabled in the config file",
                )
                if engine_disabled and row.enabled:
                    row = replace(row, enabled=False, status_reason=old.status_reason)
                row = replace(row, created_at=old.created_at)
            repo.save_rule(row)
        removed = repo.delete_config_rules_except([s.id for s in specs])
    return added, changed, removed
