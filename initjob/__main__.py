from initjob.cli import entry

entry()
