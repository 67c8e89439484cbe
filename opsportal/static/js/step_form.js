// The step form: show only the fields of the chosen check type (the server ignores the others).
(function () {
  "use strict";

  const fields = {
    http: ["url", "expected_status", "contains", "timeout"],
    latency: ["url", "requests", "percentile", "threshold_ms", "timeout"],
    env_drift: ["other_environment"],
    env_clean: [],
    import_job: ["job_id"],
    sample_verified: ["job_ids"],
    "": [],
  };
  const all = ["url", "expected_status", "contains", "timeout", "requests", "percentile",
               "threshold_ms", "other_environment", "job_id", "job_ids"];

  function setUp() {
    const select = document.getElementById("id_check_type");
    if (!select) return;
    function update() {
      const shown = fields[select.value] || [];
      for (const name of all) {
        const input = document.getElementById("id_" + name);
        if (input) input.closest(".mb-3").hidden = !shown.includes(name);
      }
    }
    select.addEventListener("change", update);
    update();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", setUp);
  } else {
    setUp();
  }
})();
