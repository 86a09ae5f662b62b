"""The CRM API's resources (document 000): paths under /v1, records under "data", offset + limit."""

from __future__ import annotations

from singer_sdk import SchemaDirectory, StreamSchema

from tap_crm import schemas
from tapkit import OffsetStream


class CRMStream(OffsetStream):
    data_selector = "data"
    offset_param = "offset"
    size_param = "limit"
    auth_header = "Authorization"  # the raw key, no scheme
    schema = StreamSchema(SchemaDirectory(schemas))


class TasksStream(CRMStream):
    name = "tasks"
    path = "/v1/tasks"
    page_size = 20


class AccountsStream(CRMStream):
    name = "accounts"
    path = "/v1/accounts"
    page_size = 10


class ContactsStream(CRMStream):
    name = "contacts"
    path = "/v1/contacts"
    page_size = 20


class OpportunitiesStream(CRMStream):
    name = "opportunities"
    path = "/v1/opportunities"
    page_size = 20


class WorkflowsStream(CRMStream):
    name = "workflows"
    path = "/v1/workflows"
    page_size = 20


class TagsStream(CRMStream):
    name = "tags"
    path = "/v1/tags"
    page_size = 20


class PersonsStream(CRMStream):
    name = "persons"
    path = "/v1/persons"


class EmailDataSourcesStream(CRMStream):
    name = "email_data_sources"
    path = "/v1/datasources/email"


class CustomFieldTypesStream(CRMStream):
    name = "custom_field_types"
    path = "/v1/customfields/types"


class PipelinesStream(CRMStream):
    name = "pipelines"
    path = "/v1/pipelines"


class UsersStream(CRMStream):
    name = "users"
    path = "/v1/users"
    page_size = 20


STREAMS = [
    TasksStream,
    AccountsStream,
    ContactsStream,
    OpportunitiesStream,
    WorkflowsStream,
    TagsStream,
    PersonsStream,
    EmailDataSourcesStream,
    CustomFieldTypesStream,
    PipelinesStream,
    UsersStream,
]
