"""The web backend as AWS Lambda functions behind API Gateway and its Cognito authorizer.

One module per function of the original request, each with ``lambda_handler(event, context)``:
``logs_retrieval_handler``, ``prompt_testing_handler``, ``ai_model_interaction_handler``,
``behaviors_crud_handler``, ``secrets_management_handler`` and ``authentication_handler``.
They are thin adapters over ``PromptTesterService``, like the Jupyter REST handlers, and answer
the same paths (without ``/prompt-tester/api``), bodies, status codes and messages
(``http_errors``). ``runtime`` holds what they share. Nothing here imports boto3 or a store.
"""
