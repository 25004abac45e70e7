"""The data permit's disclosure rules (Statistics Finland FIONA output checking; ``reference/domain.md`` §5).

The one place where these numbers are written down: the disclosure options
(:class:`impact.report.disclosure.DisclosureRules`) take them as defaults and refuse weaker
values unless the config gives a reason; the outcome stage's own ``suppress`` flags use them.
"""

#: A published cell rests on at least this many distinct persons.
MIN_CELL = 10
#: An earnings cell rests on at least this many distinct payers ...
MIN_PAYERS = 5
#: ... and no payer holds more than this share of the cell's earnings.
MAX_DOMINANCE = 0.75
