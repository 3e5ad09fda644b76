"""The ground floor: what every other room uses and nothing in it knows about fine-tuning.

Errors (``errors``), option checking and YAML (``options``, ``validation``, ``yamlio``), atomic writes and disk
checks (``atomic``, ``disk``), devices and the numerics environment (``devices``, ``numerics``), seeding
(``seeding``), progress bars readable in logs (``progress``), decorator registries (``registry``), lazy
package exports (``lazy``), import-time savings (``fast_imports``) and whether the Hugging Face hub can be
reached (``hub``).

May use: nothing else in rftlib.
"""
