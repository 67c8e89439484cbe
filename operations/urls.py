"""Mounted at the site root: ``/calendar/`` and ``/operations/schedules/…``."""

from django.urls import path

from . import views

app_name = "operations"

urlpatterns = [
    path("calendar/", views.CalendarView.as_view(), name="calendar"),
    path("operations/due-panel/", views.DuePanelView.as_view(), name="due_panel"),
    path("operations/schedules/", views.ScheduleListView.as_view(), name="schedule_list"),
    path("operations/schedules/new/", views.ScheduleCreateView.as_view(), name="schedule_create"),
    path(
        "operations/schedules/<int:pk>/", views.ScheduleDetailView.as_view(), name="schedule_detail"
    ),
    path(
        "operations/schedules/<int:pk>/edit/",
        views.ScheduleEditView.as_view(),
        name="schedule_edit",
    ),
    path(
        "operations/schedules/<int:pk>/pause/",
        views.SchedulePauseView.as_view(),
        name="schedule_pause",
    ),
    path(
        "operations/schedules/<int:pk>/resume/",
        views.ScheduleResumeView.as_view(),
        name="schedule_resume",
    ),
    path(
        "operations/schedules/<int:pk>/delete/",
        views.ScheduleDeleteView.as_view(),
        name="schedule_delete",
    ),
]
