"""The few lines that run moto's own server in the local AWS endpoint's child process.

It is still ``moto.server.main`` with moto's CLI flags; the bootstrap only changes what the
state's restore and the provider keys' compare-and-swap depend on:

* the server is run **single-threaded** when it has a state to restore: with moto's default
  threaded server, concurrent clients interleave their random draws in an order the recording
  does not capture (measured: several of 60 Cognito ``sub`` values changed after a replay when
  users were created while reads ran in parallel);
* an ephemeral server (no state folder, as in the test suite) has nothing to replay and serves
  threaded, with DynamoDB's item calls serialised (moto's transactions are not atomic across
  threads);
* Secrets Manager keeps one ``AWSCURRENT`` version, as AWS does;
* a watchdog ends the child when its parent disappears.
"""

# Runs in the child. It is still moto's own server (moto.server.main, same CLI flags); it only
# forces threaded=False (see the module docstring) and exits when the parent disappears, which
# covers a parent killed with SIGKILL, where neither stop() nor atexit runs.
BOOTSTRAP = """\
import os, sys, threading, time

def _orphan_watch(parent):
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(0)

threading.Thread(target=_orphan_watch, args=(os.getppid(),), daemon=True).start()

import moto.server as _server

_run_simple = _server.run_simple

def _serial_run_simple(*args, **kwargs):
    kwargs["threaded"] = os.environ.get("PROMPT_TESTER_MOTO_THREADED") == "1"
    return _run_simple(*args, **kwargs)

_server.run_simple = _serial_run_simple

# Secrets Manager moves AWSCURRENT with UpdateSecretVersionStage (the provider keys' compare-and-
# swap, stores/secrets.py). moto 5.2 moves the label but keeps the old "default" version, which a
# GetSecretValue without a stage then returns and a later PutSecretValue demotes, leaving two
# versions labelled AWSCURRENT. AWS has one AWSCURRENT and returns it: so does this.
from moto.secretsmanager.models import SecretsManagerBackend as _Sm

_update_stage = _Sm.update_secret_version_stage

def _update_secret_version_stage(self, secret_id, version_stage, remove_from_version_id,
                                 move_to_version_id):
    result = _update_stage(self, secret_id, version_stage, remove_from_version_id,
                           move_to_version_id)
    if version_stage == "AWSCURRENT" and move_to_version_id:
        self.secrets[secret_id].set_default_version_id(move_to_version_id)
    return result

_Sm.update_secret_version_stage = _update_secret_version_stage

if os.environ.get("PROMPT_TESTER_MOTO_THREADED") == "1":
    # moto's DynamoDB is not thread-safe: TransactWriteItems deep-copies whole tables first and
    # puts the copies back when a condition fails, undoing what other threads committed in the
    # meantime (50 concurrent optimistic updates of one behaviour lost one that had succeeded).
    # DynamoDB itself serialises transactions per item; here one lock serialises item calls.
    import functools
    from moto.dynamodb.models import DynamoDBBackend as _Ddb

    _ddb_lock = threading.RLock()

    def _serialised(fn):
        @functools.wraps(fn)
        def call(*args, **kwargs):
            with _ddb_lock:
                return fn(*args, **kwargs)
        return call

    for _name in ("put_item", "get_item", "update_item", "delete_item", "query", "scan",
                  "transact_write_items", "execute_statement", "execute_transaction",
                  "batch_execute_statement"):
        setattr(_Ddb, _name, _serialised(getattr(_Ddb, _name)))
    # The same for a secret's versions: AWS applies one label move at a time, so the check that
    # RemoveFromVersionId still holds AWSCURRENT and the move are one step.
    for _name in ("create_secret", "put_secret_value", "update_secret_version_stage",
                  "get_secret_value", "describe_secret", "delete_secret", "update_secret"):
        setattr(_Sm, _name, _serialised(getattr(_Sm, _name)))

_server.main(sys.argv[1:])
"""
