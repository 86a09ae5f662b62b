"""The projects API's resources (document 001): paths under /v1, offset parameter "from".

tasks, activities and files name their page-size parameter: "size". jobs and contacts name none;
the document's configuration then sends dlt's default, "limit", and so do we. Whatever the
server does with it, the kit advances by the records that arrived, so a server that ignores it
and sends its own page size loses nothing.
"""

from __future__ import annotations

from singer_sdk import SchemaDirectory, StreamSchema

from tap_projects import schemas
from tapkit import OffsetStream


class ProjectsStream(OffsetStream):
    data_selector = "results"
    offset_param = "from"
    size_param = "size"
    auth_header = "Authorization"
    auth_prefix = "Bearer "
    schema = StreamSchema(SchemaDirectory(schemas))


class JobsStream(ProjectsStream):
    name = "jobs"
    path = "/v1/jobs"
    page_size = 1000
    size_param = "limit"  # the document names none: dlt's default


class ContactsStream(ProjectsStream):
    name = "contacts"
    path = "/v1/contacts"
    page_size = 1000
    size_param = "limit"  # the document names none: dlt's default


class TasksStream(ProjectsStream):
    name = "tasks"
    path = "/v1/tasks"
    page_size = 100


class ActivitiesStream(ProjectsStream):
    name = "activities"
    path = "/v1/activities"
    page_size = 1000
    data_selector = "activity"


class FilesStream(ProjectsStream):
    name = "files"
    path = "/v1/files"
    page_size = 1000
    data_selector = "files"


STREAMS = [JobsStream, ContactsStream, TasksStream, ActivitiesStream, FilesStream]
