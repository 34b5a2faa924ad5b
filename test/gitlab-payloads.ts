/** Webhook payloads shaped as GitLab's documentation shows them, for the webhook receiver's tests. */

/** GitLab's documented Push Hook example (webhook_events.md), trimmed to fewer fields, branch renamed to main. */
export function pushPayload(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    object_kind: "push",
    event_name: "push",
    before: "95790bf891e76fee5e1747ab589903a6a1f80f22",
    after: "da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
    ref: "refs/heads/main",
    ref_protected: true,
    checkout_sha: "da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
    user_id: 4,
    user_name: "John Smith",
    user_username: "jsmith",
    user_email: "john@example.com",
    project_id: 15,
    project: {
      id: 15,
      name: "Diaspora",
      web_url: "http://example.com/mike/diaspora",
      namespace: "Mike",
      path_with_namespace: "mike/diaspora",
      default_branch: "main",
    },
    commits: [
      {
        id: "da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
        message: "fixed readme",
        title: "fixed readme",
        timestamp: "2012-01-03T23:36:29+02:00",
        url: "http://example.com/mike/diaspora/commit/da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
        author: { name: "GitLab dev user", email: "gitlabdev@dv6700.(none)" },
        added: ["CHANGELOG"],
        modified: ["app/controller/application.rb"],
        removed: [],
      },
    ],
    total_commits_count: 4,
    ...over,
  };
}
