"""cxresearch: a notebook-first research workbench for customer-experience research."""

from cxresearch.errors import InputError, Problem
from cxresearch.schema import Rules, ValidationReport
from cxresearch.study import Study, load_study

__version__ = "0.1.0"
__all__ = ["InputError", "Problem", "Rules", "Study", "ValidationReport", "load_study"]
