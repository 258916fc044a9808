/**
 * What each Lambda function's code asks of AWS, written down apart from its grants (functions/tasks.ts):
 * test/unit/functions/calls.test.ts proves every role grants exactly these actions, and ./enforce.ts
 * fails a test whose step makes a request this table does not list, so the table follows the code.
 * `kms:*` rows are the key uses S3 and SNS make for the caller (SSE-KMS objects, the encrypted topics).
 */
import type { FunctionKey } from '../../../functions/tasks.ts';

/** action -> why the code needs it. */
type Calls = Record<string, string>;

const readsObjects = { 's3:GetObject': 'GetObject/HeadObject', 'kms:Decrypt': 'reads SSE-KMS objects' };
const writesObjects = { 's3:PutObject': 'PutObject', 'kms:GenerateDataKey': 'writes SSE-KMS objects' };
const publishesToTopic = {
  'sns:Publish': 'publish() to the topic',
  'kms:GenerateDataKey': 'the topic is encrypted under the stage key',
  'kms:Decrypt': 'the topic is encrypted under the stage key',
};
const secrets = { 'secretsmanager:GetSecretValue': 'connection URL, webhook or API key by reference' };

export const callsOf: Record<Exclude<FunctionKey, 'restore'>, Calls> = {
  listDatabases: { ...secrets },
  globals: { ...secrets, ...writesObjects },
  listVaults: { 's3:ListBucket': 'lists backups/', ...readsObjects },
  conclude: {},
  heartbeat: { ...secrets },
  plan: { ...secrets, 's3:ListBucket': 'finds the newest manifest', ...readsObjects },
  dump: {
    ...secrets,
    ...writesObjects,
    'kms:Decrypt': 'multipart uploads read the data key back',
    's3:AbortMultipartUpload': 'aborts a failed or stale upload',
    's3:ListBucketMultipartUploads': "finds an earlier attempt's upload in incoming/",
  },
  promote: {
    ...readsObjects,
    ...writesObjects,
    's3:GetObjectTagging': 'reads the dump tags in incoming/',
    's3:PutObjectTagging': 'tags the promoted dump',
    's3:DeleteObject': 'removes the promoted objects from incoming/',
    's3:AbortMultipartUpload': 'aborts a failed part-by-part copy',
    's3:ListBucket': 'exists(): a missing key answers 404 only to a caller that may list',
  },
  checksum: {
    ...readsObjects,
    ...writesObjects,
    's3:ListBucket': 'a backup with no check record yet answers 404 (not 403) only to a caller that may list',
  },
  verify: { ...readsObjects, ...secrets, 's3:ListBucket': "lists the night's globals/" },
  notify: {
    ...readsObjects,
    ...writesObjects,
    ...publishesToTopic,
    ...secrets,
    's3:PutObjectTagging': 'marks the dump verified',
  },
  drillSelectBackup: { 's3:ListBucket': 'lists backups/', ...readsObjects },
  drillRestore: { ...readsObjects, 's3:ListBucket': "lists the night's globals/" },
  drillRecordEvidence: {
    ...readsObjects,
    ...writesObjects,
    's3:ListBucket': 'a backup with no check record yet answers 404 (not 403) only to a caller that may list',
  },
  drillNotify: { ...publishesToTopic, ...secrets },
  renderDrill: {
    's3:ListBucket': 'lists backups/ for the verified backup nearest to the export',
    ...readsObjects,
    ...writesObjects,
    ...secrets,
  },
  workerResult: {
    ...readsObjects,
    's3:ListBucket': 'a missing result record answers 404 (not 403) only to a caller that may list',
  },
  retention: {
    's3:ListBucket': 'lists backups/ and globals/',
    ...readsObjects,
    's3:GetObjectTagging': 'reads retention tags',
    's3:PutObjectTagging': 'sets retention tags',
  },
  alertRelay: { ...secrets },
  status: {
    's3:ListBucket': 'lists backups/, drills/, status/',
    ...readsObjects,
    's3:GetObject':
      "records, and which of Render's standing findings were alerted (status/provider-alerts.json)",
    ...writesObjects,
    ...publishesToTopic,
    ...secrets,
    'states:ListExecutions': "the stage's executions",
    'states:GetExecutionHistory': 'why a failed execution failed',
  },
};

/**
 * What `backupctl --stage` asks of AWS with the operator's credentials (tools/cli, tools/aws): the
 * operator policy (tools/deploy/operator.ts) grants exactly these (test/unit/tools/deploy/operator.test.ts).
 */
export const operatorCalls: Calls = {
  'states:ListStateMachines': "finds the stage's state machines by name",
  'states:ListTagsForResource': "reads the bucket's name from the backup state machine's tag",
  'states:StartExecution': 'backup, drill, restore',
  'states:ListExecutions': 'audit and status: the last executions',
  'states:GetExecutionHistory': 'follows an execution; audit and status: why one failed',
  's3:ListBucket': 'list, status, retention, and the backup a drill or restore names',
  's3:GetObject': 'manifests, records and dumps (list, verify, download, status)',
  's3:PutObject': "verify's check record, status --write",
  's3:GetObjectTagging': 'retention --apply reads the retention tags',
  's3:PutObjectTagging': 'retention --apply sets them',
  'kms:Decrypt': 'reads SSE-KMS objects; the encrypted alert topic',
  'kms:GenerateDataKey': 'writes SSE-KMS objects; the encrypted alert topic',
  'secretsmanager:GetSecretValue': 'check: the production secret, and the Render key when watched',
  'secretsmanager:CreateSecret': "restore: the target's URL in a secret of its own",
  'secretsmanager:DeleteSecret': 'restore: that secret, when no execution started',
  'sns:Publish': 'check --send-test-alert',
  'logs:FilterLogEvents': "a followed step's progress lines",
};
