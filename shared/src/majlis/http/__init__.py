"""HTTP pieces shared by every service: app factory, middlewares, problem details, health."""

from majlis.http.app import create_base_app, run_service, run_workers
from majlis.http.problems import ProblemError, problem_response
from majlis.http.requests import RequestModel, parse_json
from majlis.http.responses import Page, json_response, responds, responds_file

__all__ = [
    "Page",
    "ProblemError",
    "RequestModel",
    "create_base_app",
    "json_response",
    "parse_json",
    "problem_response",
    "responds",
    "responds_file",
    "run_service",
    "run_workers",
]
