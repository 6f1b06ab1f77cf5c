"""moto_server with CloudFormation support for `AWS::Lambda::Url` and
`AWS::SecretsManager::Secret`, which mb's template uses.

moto 5.2.5 implements the Lambda function URL API (CreateFunctionUrlConfig and its
siblings) but not the CloudFormation resource type: it skips the resource, and then
fails the whole stack on `Fn::GetAtt: [PublishUrl, FunctionUrl]`. This model maps the
resource onto moto's own function URL API, so a stack of mb's template is created,
updated and deleted in moto as on AWS, and its output holds moto's function URL.

moto 5.2.5 has no CloudFormation model for `AWS::SecretsManager::Secret` either (the token
secret of `--auth jwt`): it would skip the resource and leave `Ref: AuthSecret` unresolved.
`TokenSecret` maps it onto moto's own Secrets Manager API: `GenerateSecretString` through
moto's GetRandomPassword, then CreateSecret, so GetSecretValue returns the generated value
as on AWS (SecretStringTemplate/GenerateStringKey, which mb's template does not use, are
not modelled). Deletion is immediate (ForceDeleteWithoutRecovery): AWS keeps a deleted
secret for a recovery window, which no test relies on.

moto 5.2.5 has no CloudFormation model for `AWS::Lambda::EventInvokeConfig` (where the
function's lost continuations go): `AsyncInvokes` maps it onto moto's own
PutFunctionEventInvokeConfig, so GetFunctionEventInvokeConfig answers the stack's
retries, maximum age and on-failure queue as on AWS. moto stores the configuration; it
never runs an asynchronous invocation, so nothing reaches the queue through it.

DynamoDB applies each write to an item atomically and answers with the item as that write
left it (`UpdateItem ... ADD seq :one` with `ReturnValues=UPDATED_NEW` is an atomic counter).
moto 5.2.5 serves requests on threads; its UpdateItem handler has the backend change the
shared item, then reads that item again to build the answer. Between the two, another
request's ADD can land, and both answers carry the later number: with Python's thread switch
interval at 1 µs, 10 threads of 100 ADDs got 993 distinct numbers for 1,000 increments (a
lock on the backend's writes alone left this window open). `_atomic_item_requests` serves
one DynamoDB request at a time, from its parsing to its answer, which is what DynamoDB
promises per item (and stricter).

Everything else is moto_server, run with the arguments given (tests/src/moto.rs).
"""

import json
import threading

from typing import Any

from moto.awslambda.models import lambda_backends
from moto.secretsmanager.models import secretsmanager_backends
from moto.core.common_models import CloudFormationModel


class FunctionUrl(CloudFormationModel):
    # moto files each model under the service named by its module's second part.
    __module__ = "moto.awslambda.mb_function_url"

    def __init__(self, function_arn: str, url: str):
        self.function_arn = function_arn
        self.url = url

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::Lambda::Url"

    @property
    def physical_resource_id(self) -> str:
        # CloudFormation's Ref of AWS::Lambda::Url is the function's ARN.
        return self.function_arn

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in ("FunctionArn", "FunctionUrl")

    def get_cfn_attribute(self, attribute_name: str) -> Any:
        if attribute_name == "FunctionUrl":
            return self.url
        if attribute_name == "FunctionArn":
            return self.function_arn
        raise NotImplementedError(attribute_name)

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[misc]
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> "FunctionUrl":
        properties = cloudformation_json["Properties"]
        arn = properties["TargetFunctionArn"]
        config = {k: v for k, v in properties.items() if k != "TargetFunctionArn"}
        backend = lambda_backends[account_id][region_name]
        created = backend.create_function_url_config(name_or_arn=arn, config=config)
        return cls(arn, created.url)

    @classmethod
    def update_from_cloudformation_json(  # type: ignore[misc]
        cls,
        original_resource: "FunctionUrl",
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> "FunctionUrl":
        properties = cloudformation_json["Properties"]
        config = {k: v for k, v in properties.items() if k != "TargetFunctionArn"}
        backend = lambda_backends[account_id][region_name]
        updated = backend.update_function_url_config(
            name_or_arn=original_resource.function_arn, config=config
        )
        return cls(original_resource.function_arn, updated.url)

    @classmethod
    def delete_from_cloudformation_json(  # type: ignore[misc]
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> None:
        properties = cloudformation_json["Properties"]
        backend = lambda_backends[account_id][region_name]
        try:
            backend.delete_function_url_config(name_or_arn=properties["TargetFunctionArn"])
        except Exception:  # the function went first: its URL went with it
            pass


class TokenSecret(CloudFormationModel):
    __module__ = "moto.secretsmanager.mb_token_secret"

    def __init__(self, arn: str, name: str):
        self.arn = arn
        self.name = name

    @staticmethod
    def cloudformation_name_type() -> str:
        return "Name"

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::SecretsManager::Secret"

    @property
    def physical_resource_id(self) -> str:
        # CloudFormation's Ref of AWS::SecretsManager::Secret is the secret's ARN.
        return self.arn

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr == "Id"

    def get_cfn_attribute(self, attribute_name: str) -> Any:
        if attribute_name == "Id":
            return self.arn
        raise NotImplementedError(attribute_name)

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[misc]
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> "TokenSecret":
        properties = cloudformation_json["Properties"]
        backend = secretsmanager_backends[account_id][region_name]
        value = properties.get("SecretString")
        generate = properties.get("GenerateSecretString")
        if generate is not None:
            flag = lambda key: str(generate.get(key, False)).lower() == "true"
            value = backend.get_random_password(
                password_length=int(generate.get("PasswordLength", 32)),
                exclude_characters=generate.get("ExcludeCharacters", ""),
                exclude_numbers=flag("ExcludeNumbers"),
                exclude_punctuation=flag("ExcludePunctuation"),
                exclude_uppercase=flag("ExcludeUppercase"),
                exclude_lowercase=flag("ExcludeLowercase"),
                include_space=flag("IncludeSpace"),
                require_each_included_type=flag("RequireEachIncludedType"),
            )
            value = json.loads(value)["RandomPassword"]
        name = properties.get("Name") or resource_name
        created = json.loads(
            backend.create_secret(
                name=name,
                secret_string=value,
                secret_binary=None,
                description=properties.get("Description"),
                tags=properties.get("Tags"),
                kms_key_id=properties.get("KmsKeyId"),
                client_request_token=None,
                replica_regions=[],
                force_overwrite=False,
            )
        )
        return cls(created["ARN"], name)

    @classmethod
    def update_from_cloudformation_json(  # type: ignore[misc]
        cls,
        original_resource: "TokenSecret",
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> "TokenSecret":
        # The value is generated once: an update keeps it, as on AWS when
        # GenerateSecretString is unchanged.
        return original_resource

    @classmethod
    def delete_from_cloudformation_json(  # type: ignore[misc]
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> None:
        backend = secretsmanager_backends[account_id][region_name]
        try:
            backend.delete_secret(
                secret_id=resource_name,
                recovery_window_in_days=None,
                force_delete_without_recovery=True,
            )
        except Exception:  # already gone
            pass


class AsyncInvokes(CloudFormationModel):
    __module__ = "moto.awslambda.mb_event_invoke_config"

    # The properties CloudFormation passes on to PutFunctionEventInvokeConfig.
    CONFIG = ("MaximumRetryAttempts", "MaximumEventAgeInSeconds", "DestinationConfig")

    def __init__(self, function_name: str, qualifier: str):
        self.function_name = function_name
        self.qualifier = qualifier

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::Lambda::EventInvokeConfig"

    @property
    def physical_resource_id(self) -> str:
        return f"{self.function_name}:{self.qualifier}"

    @classmethod
    def put(
        cls, properties: dict[str, Any], account_id: str, region_name: str
    ) -> "AsyncInvokes":
        name = properties["FunctionName"]
        config = {k: properties[k] for k in cls.CONFIG if k in properties}
        for key in ("MaximumRetryAttempts", "MaximumEventAgeInSeconds"):
            if key in config:
                config[key] = int(config[key])
        backend = lambda_backends[account_id][region_name]
        backend.put_function_event_invoke_config(name, config)
        return cls(name, properties.get("Qualifier", "$LATEST"))

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[misc]
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> "AsyncInvokes":
        return cls.put(cloudformation_json["Properties"], account_id, region_name)

    @classmethod
    def update_from_cloudformation_json(  # type: ignore[misc]
        cls,
        original_resource: "AsyncInvokes",
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> "AsyncInvokes":
        backend = lambda_backends[account_id][region_name]
        try:  # moto's put appends: replace, as AWS's update does
            backend.delete_function_event_invoke_config(original_resource.function_name)
        except Exception:
            pass
        return cls.put(cloudformation_json["Properties"], account_id, region_name)

    @classmethod
    def delete_from_cloudformation_json(  # type: ignore[misc]
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> None:
        backend = lambda_backends[account_id][region_name]
        try:
            backend.delete_function_event_invoke_config(
                cloudformation_json["Properties"]["FunctionName"]
            )
        except Exception:  # the function went first: its configuration went with it
            pass


def _atomic_item_requests() -> None:
    from moto.dynamodb.responses import DynamoHandler

    lock = threading.Lock()
    original = DynamoHandler.call_action

    def call_action(self: Any) -> Any:
        with lock:
            return original(self)

    DynamoHandler.call_action = call_action  # type: ignore[method-assign]


if __name__ == "__main__":
    import os
    import sys

    from moto.server import main

    # Tests of a race between requests switch threads more often (tests/src/moto.rs).
    if "MB_MOTO_SWITCH_INTERVAL_S" in os.environ:
        sys.setswitchinterval(float(os.environ["MB_MOTO_SWITCH_INTERVAL_S"]))

    _atomic_item_requests()

    main()
