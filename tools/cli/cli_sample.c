/* SPDX-License-Identifier: Apache-2.0 */
/* CLI command: produce a sample submission for a credential, through the outbox. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "badgeflow/catalogue_pg.h"
#include "badgeflow/events.h"
#include "badgeflow/util.h"
#include "cli.h"

#define SAMPLE_SERVICE  "cli"
#define SAMPLE_DRAIN_MS 15000

static const char sample_reflection[] =
    "I chose this credential because our team needed a common purpose before we could plan "
    "together. I asked each colleague to name one student outcome they cared about, and we "
    "looked for the overlap. Next time I will give more think time before we agree.";

static const char *sample_extension(enum bf_cat_kind kind)
{
    static const char *const ext[] = {[BF_CAT_VIDEO] = "mp4",
                                      [BF_CAT_AUDIO] = "m4a",
                                      [BF_CAT_IMAGE] = "jpg",
                                      [BF_CAT_DOCUMENT] = "pdf",
                                      [BF_CAT_TEXT] = "txt"};

    return ext[kind];
}

/* One evidence item answering requirement r: inline text, or a URI under base. */
static json_t *sample_item(const struct bf_cat_evreq *r, const char *base)
{
    enum bf_cat_kind kind = bf_cat_evreq_kind(r);
    json_t *item = json_pack("{s:s, s:s, s:s}", "item_id", bf_cat_evreq_id(r), "kind",
                             bf_cat_kind_name(kind), "requirement", bf_cat_evreq_id(r));
    char uri[1024];

    if (kind == BF_CAT_TEXT) {
        json_object_set_new(item, "text", json_string(sample_reflection));
        return item;
    }
    snprintf(uri, sizeof(uri), "%s/%s.%s", base, bf_cat_evreq_id(r), sample_extension(kind));
    json_object_set_new(item, "uri", json_string(uri));
    return item;
}

struct sample {
    const char *tenant, *educator, *district, *school, *id, *evidence_base;
    const struct bf_cat_cred *cred;
    char time[BF_TIME_STRLEN];
};

static json_t *sample_data(const struct sample *s)
{
    json_t *evidence = json_array();

    for (size_t i = 0; i < bf_cat_evreq_count(s->cred); i++) {
        const struct bf_cat_evreq *r = bf_cat_evreq_at(s->cred, i);
        if (bf_cat_evreq_min_items(r) > 0)
            json_array_append_new(evidence, sample_item(r, s->evidence_base));
    }
    return json_pack("{s:s, s:s, s:{s:s, s:s, s:s}, s:s, s:i, s:i, s:o, s:s}", "submission_id",
                     s->id, "tenant_id", s->tenant, "educator", "id", s->educator, "school_id",
                     s->school, "district_id", s->district, "credential_id",
                     bf_cat_cred_id(s->cred), "credential_version", bf_cat_cred_version(s->cred),
                     "attempt", 1, "evidence", evidence, "submitted_at", s->time);
}

struct emit_ctx {
    const struct bf_outbox_ctx *octx;
    const struct bf_emit *emit;
};

static int emit_tx(struct bf_pg *pg, void *arg, struct bf_err *err)
{
    const struct emit_ctx *e = arg;

    return bf_outbox_emit(pg, e->octx, e->emit, NULL, err);
}

static long long unsent(struct bf_pg *pg)
{
    PGresult *res = bf_pg_query(pg,
                                "SELECT count(*) FROM outbox WHERE service = $1 AND sent_at IS"
                                " NULL",
                                1, (const char *const[]){SAMPLE_SERVICE}, NULL);
    long long n = -1;

    if (res && PQntuples(res) == 1 && bf_parse_ll(PQgetvalue(res, 0, 0), 0, 1LL << 62, &n) < 0)
        n = -1;
    PQclear(res);
    return n;
}

/* Publish what the CLI put in the outbox; wait until PostgreSQL says it was sent. */
static int drain_outbox(struct cli *cli, struct bf_err *err)
{
    struct bf_outbox_relay *relay;
    int64_t until = bf_mono_ms() + SAMPLE_DRAIN_MS;
    long long left = -1;

    relay = bf_outbox_relay_new(bf_cfg_str(cli->cfg, "postgres.conninfo"), SAMPLE_SERVICE, cli->cfg,
                                err);
    if (!relay)
        return -err->code;
    while (bf_mono_ms() < until && (left = unsent(cli->pg)) != 0) {
        bf_outbox_relay_run(relay, 100); /* publishes, and marks what was delivered */
        bf_sleep_ms(20, NULL);
    }
    if (bf_outbox_relay_flush(relay, 1000) < 0)
        left = left ? left : 1;
    bf_outbox_relay_free(relay);
    if (left != 0)
        return bf_err_set(err, BF_ETIMEOUT,
                          "the sample is stored but not published yet; a "
                          "later `submit-sample` publishes it");
    return 0;
}

static int sample_emit(struct cli *cli, const struct sample *s, struct bf_err *err)
{
    char prefix[128];
    json_t *data = sample_data(s);
    int rc = bf_ev_check(BF_EV_SUBMISSION_SUBMITTED, data, err);

    bf_strlcpy(prefix, bf_cfg_str(cli->cfg, "kafka.topic_prefix"), sizeof(prefix));
    struct bf_outbox_ctx octx = {SAMPLE_SERVICE, "/badgeflow/cli", prefix};
    struct bf_emit emit = {.topic = "submissions",
                           .type = BF_EV_SUBMISSION_SUBMITTED,
                           .key = s->id,
                           .subject = s->id,
                           .data = data};
    struct emit_ctx ectx = {&octx, &emit};
    if (rc == 0)
        rc = bf_pg_tx(cli->pg, emit_tx, &ectx, err);
    json_decref(data);
    return rc < 0 ? rc : drain_outbox(cli, err);
}

static int cmd_submit_sample(struct cli *cli, int argc, char **argv)
{
    struct cli_opt opts[] = {CLI_OPT_REQ("tenant"), CLI_OPT_REQ("credential"), CLI_OPT("educator"),
                             CLI_OPT("id"),         CLI_OPT("evidence-base"),  CLI_OPT_END};
    char id[64], uuid[BF_UUID_STRLEN + 1];
    struct bf_err err = {0};
    struct bf_cat *cat = NULL;
    int first, rc;

    if (cli_opts_parse(argv[0], argc, argv, opts, &first) != CLI_OK)
        return CLI_EUSAGE;
    if (!cli_pg(cli))
        return CLI_EFAIL;
    cat = bf_cat_load_pg(cli->pg, &err);
    if (!cat)
        return cli_fail("submit-sample", &err);
    if (bf_uuid_v4(uuid) < 0)
        return CLI_EFAIL;
    snprintf(id, sizeof(id), "sample-%.8s", uuid);
    struct sample s = {
        .tenant = cli_opt(opts, "tenant"),
        .educator = cli_opt(opts, "educator") ? cli_opt(opts, "educator") : "sample-educator",
        .district = cli_opt(opts, "tenant"),
        .school = "sample-school",
        .id = cli_opt(opts, "id") ? cli_opt(opts, "id") : id,
        .evidence_base = cli_opt(opts, "evidence-base") ? cli_opt(opts, "evidence-base")
                                                        : "https://evidence.example.org/sample",
        .cred = bf_cat_cred_find(cat, cli_opt(opts, "credential"), 0)};
    bf_time_format(bf_now_ms(), s.time);
    if (!s.cred)
        rc = cli_usage_error(argv[0], "credential '%s' is not in the stored catalogue",
                             cli_opt(opts, "credential"));
    else if (sample_emit(cli, &s, &err) < 0)
        rc = cli_fail("submit-sample", &err);
    else {
        printf("%s\n", s.id);
        rc = CLI_OK;
    }
    bf_cat_free(cat);
    return rc;
}

const struct cli_command cli_sample_commands[] = {
    {"submit-sample", cmd_submit_sample,
     "--tenant ID --credential ID [--educator ID] [--id SUBMISSION] [--evidence-base URL]",
     "produce a valid submission.submitted for the credential's required evidence; prints its id"},
    {NULL, NULL, NULL, NULL},
};
