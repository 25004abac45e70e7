"""``impact init NAME --template effect|followup|area``: a commented study config to start from.

Each template is a complete config that passes ``impact check`` and runs with ``impact run``;
its comments say what each key does and point to ``docs/config.md`` (the full reference) for the
rest. The synthetic registers are small (20 000 persons) so a first run takes a minute or two;
raise ``data.synthetic.persons`` (or point ``data.registers`` at an extract) for real work.
"""

from __future__ import annotations

from pathlib import Path

from impact.errors import ConfigError

_HEAD = """\
# {title_comment}
# Written by `impact init {name} --template {template}`. Check it with `impact check {path}`,
# run it with `impact run {path}`. Every key is described in docs/config.md; a key the study's
# analyses do not read is refused, so delete what you do not need rather than leaving it empty.
[study]
name = "{name}"                  # the report goes to reports/{name}/
title = "{title}"
question = "{question}"
phase = {phase}                          # 1 descriptive follow-up, 2 effects (informational)
# title_fi = "..."                 # Finnish title and question when [report] language = "fi"

[data]
# Synthetic registers with a known true effect (generated on the first run, then reused).
# For a register extract write instead: registers = "path/to/folder"
synthetic = {{ scenario = "{scenario}", persons = 20000, seed = 1 }}
"""

_EFFECT = """
[population]                       # who and when (every analysis keeps only these)
start_from = 2017-01-01
start_to = 2024-06-30
age_min = 18
age_max = 64

[unit]
kind = "service_spell"             # follow the service spells ...
service_types = ["{service}"]        # ... of the service under study

[treatment]
design = "dynamic"                 # risk-set matching: starting the service now vs waiting
service_type = "{service}"           # training, pay_subsidy, coaching, work_trial, ... (docs/config.md)
max_elapsed_months = 24            # only starts within 24 months of job seeking

[comparison]
kind = "not_yet_treated"           # job seekers unemployed equally long who did not start then

[outcomes]
horizons = [3, 6, 12]              # months after the service ended
measures = ["placement", "time_to_employment", "earnings", "cost"]
by = ["service_type"]

[design]
covariates = ["age", "sex", "education", "language", "segment", "prior_employment", "prior_earnings"]
history_months = 12                # employment and earnings history matched on

[estimators.matching]              # the effect on the treated (ATT) by horizon
method = "propensity"
k = 5
estimand = "ATT"

[estimators.did]                   # the same question by difference-in-differences (entry months)
design = "risk_set"
method = "reg"

[report]
language = "en"                    # "fi": the whole report in Finnish

[disclosure]
min_cell = 10                      # every published number rests on at least 10 distinct persons
"""

_FOLLOWUP = """
[population]
start_from = 2018-01-01            # services that started in 2018-2024
start_to = 2024-12-31
age_min = 18
age_max = 64

[unit]
kind = "service_spell"             # months after the service ended ("jobseeking_spell": after the spell)

[outcomes]
horizons = [3, 6, 12]
measures = ["placement", "time_to_employment", "earnings", "relative_earnings", "cost"]
by = ["service_type", "employment_area"]   # the first grouping also gives the curves and the headline

[estimators.followup]              # the descriptive follow-up (no causal effect)

[report]
language = "en"

[disclosure]
min_cell = 10
"""

_AREA = """
[unit]
kind = "jobseeking_spell"

[treatment]
design = "synthetic_control"
area = "EA05"                      # the reformed employment area
policy_month = "2019-01"           # first month of the reform

[comparison]
kind = "donors"
# areas reformed later are not valid donors (the area_reform scenario reforms these in 2021 and 2023)
exclude_areas = ["EA07", "EA09", "EA12", "EA14", "EA16", "EA19", "EA21", "EA23", "EA26", "EA28", "EA30", "EA35", "EA37", "EA44"]

[outcomes]
horizons = [3, 6, 12]
measures = ["placement", "time_to_employment"]
by = ["employment_area"]
window_months = [-36, 24]          # 36 months before the reform (pre-fit), 24 after

[estimators.synth]
predictors = "outcome_only"
placebo = true                     # in-space placebos: permutation p-value and interval

[estimators.peer_groups]
k = 8                              # statistical peer areas for comparison

[report]
language = "en"

[disclosure]
min_cell = 10
"""

#: template -> (title, question, phase, scenario, body)
TEMPLATES = {
    "effect": ("The effect of {service_label} on employment",
               "Are job seekers who start {service_label} more often in open-market work 3, 6 and 12 months after "
               "it ends than comparable job seekers who had been unemployed equally long but did not start it then?",
               2, "default", _EFFECT),
    "followup": ("Placement follow-up of employment services",
                 "What share of participants is in the open labour market 3, 6 and 12 months after an employment "
                 "service ends, and how long does it take them to find work?", 1, "default", _FOLLOWUP),
    "area": ("A new service model in employment area EA05: effect on employment",
             "Did the employment rate of job seekers in EA05 rise after the new service model started in January "
             "2019, compared with a synthetic area built from areas without a reform?", 2, "area_reform", _AREA),
}


def template_text(name: str, template: str, path: str, service: str = "training") -> str:
    """The commented config of ``template`` for a study called ``name`` (written to ``path``)."""
    from impact.report.wording import label

    if template not in TEMPLATES:
        raise ConfigError(f"--template {template!r} is not allowed: expected one of {', '.join(TEMPLATES)}")
    title, question, phase, scenario, body = TEMPLATES[template]
    lab = label(service, "en").lower()
    title, question = title.format(service_label=lab), question.format(service_label=lab)
    head = _HEAD.format(name=name, template=template, path=path, title=title, question=question, phase=phase,
                        scenario=scenario, title_comment={"effect": "Phase 2: the effect of a service (matching "
                                                          "and difference-in-differences).",
                                                          "followup": "Phase 1: descriptive placement follow-up.",
                                                          "area": "Phase 2: an area reform (synthetic control)."}[
                            template])
    return head + body.format(service=service)


def write_template(name: str, template: str, out: Path | None = None, service: str = "training",
                   force: bool = False) -> Path:
    """Write the config of ``template`` to ``out`` (default ``studies/NAME.toml``) and check it.

    Raises
    ------
    ConfigError
        For a bad name or template, or when the file exists (without ``force``).
    """
    from impact.registers.schema import SERVICE_TYPES
    from impact.study.config import StudySection, load_config

    StudySection(name=name, title="t", question="q").check("NAME")
    if service not in SERVICE_TYPES:
        raise ConfigError(f"--service {service!r} is not allowed: expected one of {', '.join(SERVICE_TYPES)}")
    out = Path(out) if out is not None else Path("studies") / f"{name}.toml"
    if out.exists() and not force:
        raise ConfigError(f"{out} already exists (use --force to overwrite it, or choose another NAME)")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(template_text(name, template, str(out), service), encoding="utf-8")
    try:
        load_config(tmp)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(out)
    return out
