"""The leads API's resources (document 003): base URL ends in /v2, records under "data".

Only leads and prospecting_lists are paginated (offset + limit); every other resource is one
request for everything.
"""

from __future__ import annotations

from singer_sdk import SchemaDirectory, StreamSchema

from tap_leads import schemas
from tapkit import OffsetStream


class LeadsAPIStream(OffsetStream):
    data_selector = "data"
    offset_param = "offset"
    size_param = "limit"
    auth_header = "X-API-KEY"
    schema = StreamSchema(SchemaDirectory(schemas))


class StepsStream(LeadsAPIStream):
    name = "steps"
    path = "/steps"


class PipelinesStream(LeadsAPIStream):
    name = "pipelines"
    path = "/pipelines"


class ClientsFoldersStream(LeadsAPIStream):
    name = "clients_folders"
    path = "/clients"


class CategoriesStream(LeadsAPIStream):
    name = "categories"
    path = "/categories"


class PredefinedTagsStream(LeadsAPIStream):
    name = "predefined_tags"
    path = "/predefined_tags"


class FieldsStream(LeadsAPIStream):
    name = "fields"
    path = "/fields"


class LeadsStream(LeadsAPIStream):
    name = "leads"
    path = "/leads"
    page_size = 100


class FollowUpsStream(LeadsAPIStream):
    name = "follow_ups"
    path = "/follow_ups"


class UsersStream(LeadsAPIStream):
    name = "users"
    path = "/users"


class TeamsStream(LeadsAPIStream):
    name = "teams"
    path = "/teams"


class WebhooksStream(LeadsAPIStream):
    name = "webhooks"
    path = "/webhooks"


class WebhookEventsStream(LeadsAPIStream):
    name = "webhook_events"
    path = "/webhook_events"


class ActivitiesStream(LeadsAPIStream):
    name = "activities"
    path = "/activities"


class ProspectingListsStream(LeadsAPIStream):
    name = "prospecting_lists"
    path = "/spreadsheets"
    page_size = 100


STREAMS = [
    StepsStream,
    PipelinesStream,
    ClientsFoldersStream,
    CategoriesStream,
    PredefinedTagsStream,
    FieldsStream,
    LeadsStream,
    FollowUpsStream,
    UsersStream,
    TeamsStream,
    WebhooksStream,
    WebhookEventsStream,
    ActivitiesStream,
    ProspectingListsStream,
]
