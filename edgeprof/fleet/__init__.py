"""`edgeprof fleet`: run a bench suite on every board of an Ansible inventory and bring the results home.

The engine is Ansible (ansible-core, driven from Python through ansible-runner): its inventory format is the
one fleets of Pis and Jetsons already have, and it brings parallelism (forks), retries, privilege (become),
facts and host-key checking of its own. This package writes the playbook's inputs, runs it, and reads what
happened per host; it never imports the other stages (the cross-device report is drawn by the workflow)."""
