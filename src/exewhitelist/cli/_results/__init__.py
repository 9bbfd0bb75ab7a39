"""The results the commands print (:class:`~exewhitelist.cli._output.Result`), a module per
concern: :mod:`.check` (files and whole images decided), :mod:`.blob` (compile, inspect),
:mod:`.hashing` (hash, signers), :mod:`.policy` (policy validate, diff, from-hashes,
from-scan, the edits), :mod:`.scan` (scan's end, scan diff), :mod:`.interop` (policy import,
export, from-events)."""

__all__: list[str] = []  # the modules are imported by name
