/**
 * What IAM authorizes for one SDK command: the actions, each on its resource ARN with the condition
 * keys the request sets (AWS's Service Authorization Reference). S3 requests on the stage's bucket also
 * need the KMS actions S3 calls on the caller's behalf, because the bucket encrypts with SSE-KMS under
 * the stage key: GenerateDataKey to write, Decrypt to read (and for multipart uploads, which read the
 * data key back for every part). A command without a row here is reported, never allowed silently.
 */
import { account, keyArn, region, stage, stageResourcesOf, stageSecretArns } from './policies.ts';

export interface AuthorizedRequest {
  action: string;
  resource: string;
  context: Record<string, string | string[]>;
}

type Input = Record<string, unknown>;

const text = (value: unknown) => (typeof value === 'string' ? value : '');

function s3Requests(command: string, input: Input): AuthorizedRequest[] | undefined {
  const bucket = `arn:aws:s3:::${text(input.Bucket)}`;
  const object = `${bucket}/${text(input.Key)}`;
  const on = (action: string, resource = object, context: AuthorizedRequest['context'] = {}) => ({
    action,
    resource,
    context,
  });
  const encrypt = [on('kms:GenerateDataKey', keyArn)];
  const decrypt = [on('kms:Decrypt', keyArn)];
  // CopySource is "bucket/key" (URL-encoded), as the SDK sends it.
  const source = () => `arn:aws:s3:::${decodeURIComponent(text(input.CopySource))}`;
  switch (command) {
    case 'GetObject':
    case 'HeadObject':
      return [on('s3:GetObject'), ...decrypt];
    case 'PutObject':
      return [on('s3:PutObject'), ...encrypt];
    case 'CreateMultipartUpload':
    case 'UploadPart':
    case 'CompleteMultipartUpload':
      return [on('s3:PutObject'), ...encrypt, ...decrypt];
    case 'AbortMultipartUpload':
      return [on('s3:AbortMultipartUpload')];
    case 'CopyObject':
    case 'UploadPartCopy':
      return [on('s3:GetObject', source()), on('s3:PutObject'), ...encrypt, ...decrypt];
    case 'DeleteObject':
      return [on('s3:DeleteObject')];
    case 'GetObjectTagging':
      return [on('s3:GetObjectTagging')];
    case 'PutObjectTagging':
      return [on('s3:PutObjectTagging')];
    case 'ListObjectsV2':
    case 'ListObjects':
      return [
        on('s3:ListBucket', bucket, input.Prefix === undefined ? {} : { 's3:prefix': text(input.Prefix) }),
      ];
    case 'HeadBucket':
      return [on('s3:ListBucket', bucket)];
    case 'ListMultipartUploads':
      return [on('s3:ListBucketMultipartUploads', bucket)];
    default:
      return undefined;
  }
}

/**
 * The stage's name for a resource the local runner names `local-<name>` (tools/local): a function, the
 * worker's project, their log groups; a local state machine's ARN becomes the stage's.
 */
function stageNameOf(name: string): string {
  return name.replace(/(^|\/)local-/, `$1verified-pg-backups-${stage}-`);
}

const localMachine = /^arn:aws:states:[^:]+:\d{12}:stateMachine:local-(\w+)$/;

function stateMachineArnOf(arn: string, settings: Record<string, string>): string {
  const machine = localMachine.exec(arn)?.[1];
  return machine ? (stageResourcesOf(settings).stateMachineArns[machine] ?? arn) : arn;
}

/** What Lambda, CodeBuild and CloudWatch Logs authorize, for the requests AWS makes for a step. */
function platformRequests(client: string, command: string, input: Input): AuthorizedRequest[] | undefined {
  const on = (action: string, resource: string) => ({ action, resource, context: {} });
  const functionArn = (name: string) =>
    name.startsWith('arn:') ? name : `arn:aws:lambda:${region}:${account}:function:${stageNameOf(name)}`;
  const project = `arn:aws:codebuild:${region}:${account}:project/${stageNameOf(text(input.projectName))}`;
  const logGroup = `arn:aws:logs:${region}:${account}:log-group:${stageNameOf(text(input.logGroupName))}`;
  switch (`${client}.${command}`) {
    case 'LambdaClient.Invoke':
      return [on('lambda:InvokeFunction', functionArn(text(input.FunctionName)))];
    case 'LambdaClient.GetFunction':
      return [on('lambda:GetFunction', functionArn(text(input.FunctionName)))];
    case 'LambdaClient.GetLayerVersionByArn':
      return [on('lambda:GetLayerVersion', text(input.Arn))];
    case 'CodeBuildClient.StartBuild':
      return [on('codebuild:StartBuild', project)];
    case 'CodeBuildClient.BatchGetBuilds':
      return [on('codebuild:BatchGetBuilds', project)];
    case 'CodeBuildClient.StopBuild':
      return [on('codebuild:StopBuild', project)];
    case 'CloudWatchLogsClient.CreateLogStream':
      return [on('logs:CreateLogStream', `${logGroup}:log-stream:${text(input.logStreamName)}`)];
    case 'CloudWatchLogsClient.PutLogEvents':
      return [on('logs:PutLogEvents', `${logGroup}:log-stream:${text(input.logStreamName)}`)];
    default:
      return undefined;
  }
}

/** A secret named by a test setting stands for the secret config/test.yml names for that setting. */
function stageSecret(secretId: string, settings: Record<string, string>): string {
  for (const [setting, arn] of Object.entries(stageSecretArns())) {
    if (arn && settings[setting] === secretId) return arn;
  }
  return secretId;
}

export function authorizedRequests(
  client: string,
  command: string,
  input: Input,
  settings: Record<string, string>,
): AuthorizedRequest[] | undefined {
  const on = (action: string, resource: string) => ({ action, resource, context: {} });
  switch (client) {
    case 'S3Client':
      return s3Requests(command, input);
    case 'SNSClient':
      // Topics encrypted under the stage key: the publisher needs the key too.
      if (command === 'Publish')
        return [
          on('sns:Publish', text(input.TopicArn)),
          on('kms:GenerateDataKey', keyArn),
          on('kms:Decrypt', keyArn),
        ];
      return undefined;
    case 'SecretsManagerClient':
      if (command === 'GetSecretValue')
        return [on('secretsmanager:GetSecretValue', stageSecret(text(input.SecretId), settings))];
      if (command === 'DeleteSecret')
        return [on('secretsmanager:DeleteSecret', stageSecret(text(input.SecretId), settings))];
      // A new secret's ARN: its name and the six random characters Secrets Manager appends.
      if (command === 'CreateSecret')
        return [
          on(
            'secretsmanager:CreateSecret',
            `arn:aws:secretsmanager:${region}:${account}:secret:${text(input.Name)}-AbCdEf`,
          ),
        ];
      return undefined;
    case 'SFNClient':
      if (command === 'ListExecutions') return [on('states:ListExecutions', text(input.stateMachineArn))];
      if (command === 'GetExecutionHistory')
        return [on('states:GetExecutionHistory', text(input.executionArn))];
      if (command === 'DescribeExecution') return [on('states:DescribeExecution', text(input.executionArn))];
      if (command === 'StartExecution')
        return [on('states:StartExecution', stateMachineArnOf(text(input.stateMachineArn), settings))];
      // No resource-level permission: AWS evaluates it against "*".
      if (command === 'ListStateMachines') return [on('states:ListStateMachines', '*')];
      if (command === 'ListTagsForResource')
        return [on('states:ListTagsForResource', text(input.resourceArn))];
      return undefined;
    case 'CloudWatchLogsClient':
      if (command === 'FilterLogEvents')
        return [
          on(
            'logs:FilterLogEvents',
            `arn:aws:logs:${region}:${account}:log-group:${text(input.logGroupName)}`,
          ),
        ];
      return platformRequests(client, command, input);
    default:
      return platformRequests(client, command, input);
  }
}
