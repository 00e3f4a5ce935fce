"""The API's bodies as models, one module per kind: ``fields`` (the field types),
``requests`` (one model per request body), ``config`` (the configuration document),
``views`` (the custom resources read under the API's names, and a task as the API
shows it), ``responses`` (for the OpenAPI document), ``errors`` (parsing, and a
validation error as the documented 400) and ``openapi`` (JSON schemas as OpenAPI 3.0
takes them). Pure: no I/O."""
