"""The fleet: one height across many nodes, compared per endpoint, sealed as one fleet verdict.

`nodes` (FleetNode, FleetRequest: the one validation of fleet parameters, queue naming), `verdict`
(the sealed FleetVerdict model), `compare` (majority, odd nodes), `collect` (a node's sealed records
read back from the sink), `report` (table, markdown, headline, exit codes), `publish` (write-once).
No Prefect here: flows/fleet.py dispatches the node gates and calls these.
"""
