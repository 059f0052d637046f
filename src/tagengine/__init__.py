"""tagengine: customer-profiling rules (tags, segments, scores) compiled to Polars.

import tagengine
rules = tagengine.load("rules/retail.tags")
df = rules.evaluate({"customers": customers}, as_of=datetime.date(2024, 12, 31))
"""

from tagengine.diagnostics import Diagnostic, Severity, TagEngineError
from tagengine.ruleset import RuleSet, load

__all__ = ["Diagnostic", "RuleSet", "Severity", "TagEngineError", "load"]
__version__ = "0.1.0"
