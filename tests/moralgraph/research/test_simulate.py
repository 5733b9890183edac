"""The study's simulate page: start a run in the background, read its figures."""

import pytest

from moralgraph.models import SimulationRun
from moralgraph.services import simulation
from tests.helpers import make_study

pytestmark = pytest.mark.django_db


def test_it_queues_a_run(admin_client, queued, django_capture_on_commit_callbacks):
    study = make_study()
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            f"/research/{study.slug}/simulate/", {"participants": "20", "planned": "400"}
        )
    assert response.status_code == 302
    run = SimulationRun.objects.get(study=study)
    assert (run.participants, run.planned_participants) == (20, 400)
    assert queued == [("moralgraph.tasks.run_simulation", (run.pk,), None)]
    html = admin_client.get(f"/research/{study.slug}/simulate/").content.decode()
    assert "Run " + str(run.pk) in html and 'hx-trigger="every 3s"' in html


def test_it_shows_the_figures_of_a_finished_run(admin_client, fast_llm):
    study = make_study(max_completed=60)
    run = simulation.simulation_create(study=study, participants=1)
    simulation.simulation_run(run=run, reconcile_after=False)
    html = admin_client.get(f"/research/{study.slug}/simulate/").content.decode()
    assert "Cost estimate for 60 participants" in html
    assert "unknown price" in html and "Time per step" in html
    assert 'hx-trigger="every' not in html  # nothing running: no polling


def test_it_refuses_a_bad_number(admin_client):
    study = make_study()
    response = admin_client.post(f"/research/{study.slug}/simulate/", {"participants": "0"})
    assert response.status_code == 400
    assert not SimulationRun.objects.exists()


def test_a_viewer_may_not_run_it(client, django_user_model):
    from elicitation.models import StudyMember

    study = make_study()
    user = django_user_model.objects.create_user("viewer", password="x", is_staff=True)
    StudyMember.objects.create(study=study, user=user, role=StudyMember.Role.VIEWER)
    client.force_login(user)
    assert client.get(f"/research/{study.slug}/simulate/").status_code == 403


def test_the_settings_page_and_the_study_tabs_link_to_it(admin_client):
    study = make_study()
    link = f'href="/research/{study.slug}/simulate/"'
    settings_page = admin_client.get(f"/research/{study.slug}/settings/").content.decode()
    assert 'id="simulate-link"' in settings_page and link in settings_page
    dashboard = admin_client.get(f"/research/{study.slug}/").content.decode()
    assert link in dashboard
