#!/usr/bin/env node
import { Command, Option } from 'commander';

const DETACH_KEYS = 'ctrl-p,ctrl-q';

type CommandFn = (...args: never[]) => Promise<number | undefined>;

/**
 * A command's action, loaded when that command runs: `rclaude ls` loads neither the terminal code of `run`
 * nor the server of `rclaude server`. Its result or error becomes the process exit code.
 */
function action<K extends string, M extends Record<K, CommandFn>>(load: () => Promise<M>, name: K) {
  return async (...args: unknown[]) => {
    try {
      const fn: CommandFn = (await load())[name];
      // Commander hands each action its arguments, then its options, as declared above for that command.
      const code = await fn(...(args as never[]));
      process.exitCode = typeof code === 'number' ? code : 0;
    } catch (err) {
      // Loaded only on failure: `rclaude --version` and a command that succeeds never load the error mapping.
      const [{ describe }, { safeText }] = await Promise.all([import('./describe-error.js'), import('./output.js')]);
      const { message, hint, exitCode } = describe(err);
      // Messages carry server and sandbox text (a status reason, a name): never raw control characters.
      process.stderr.write(`rclaude: ${safeText(message)}\n${hint ? `hint: ${safeText(hint)}\n` : ''}`);
      if (process.env.RCLAUDE_DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
      process.exitCode = exitCode;
    }
    // Sockets and timers may linger; the command is over.
    setImmediate(() => process.exit());
  };
}

const program = new Command('rclaude')
  .description('Run Claude Code in a remote sandbox and drive it from your terminal or browser.')
  .version('0.1.0')
  .enablePositionalOptions()
  .showHelpAfterError('(add --help for usage)')
  .addHelpText(
    'after',
    `
Examples:
  rclaude server                          start the server here (embedded storage, local sandboxes)
  rclaude run                             Claude Code in a new sandbox, attached to this terminal
  rclaude run -- bash                     any program instead of claude
  rclaude run -p "fix the failing test" --repo https://github.com/you/app
  rclaude ls                              your tasks
  rclaude attach 3f2a                     back to a task (any unique id prefix); wakes a hibernated one
  rclaude shell 3f2a                      another terminal in its sandbox
  rclaude play 3f2a                       replay its recorded session
  rclaude checkpoints 3f2a                its saved states; \`rclaude resume 3f2a --at cp_…\` goes back to one
  rclaude run --here                      this clone (uncommitted files too) in a new sandbox
  rclaude pull 3f2a                       its changes as a branch here, its conversation for claude --resume
  rclaude sync 3f2a ./work                keep a local folder and its workspace in step, both ways
  rclaude pr 3f2a                         push its work and open a GitHub pull request
  rclaude approvals                       permission requests waiting for you; rclaude approve ID
  rclaude ssh 3f2a                        OpenSSH into its sandbox; rclaude port 3f2a 3000 forwards a port
  rclaude share 3f2a --expires 2h         a read-only link to watch it live
  rclaude web                             the web app, signed in as you
  rclaude approvals                       Claude Code's permission requests waiting for you

Server and token come from --server, RCLAUDE_SERVER / RCLAUDE_TOKEN, \`rclaude login\`, or a server
running on this machine. Exit codes: 0 ok, 1 error, 2 cancelled, 4 not signed in; \`run\`, \`attach\`
and \`exec\` exit with the remote program's code.`,
  );

const serverOption = () =>
  new Option('--server <url>', 'rclaude server URL (default: RCLAUDE_SERVER, your login, or the local server)');

program
  .command('server')
  .description('start the rclaude server (proxy + web app)')
  .option('--port <port>', 'port to listen on (PORT, default 7878; 0 picks a free one)')
  .option('--host <host>', 'address to listen on (HOST, default 127.0.0.1)')
  .option('--provider <name>', 'default sandbox provider: local, docker, ecs or e2b (RCLAUDE_PROVIDER)')
  .option('--unconfined', 'run local sandboxes without bubblewrap (NOT isolated; for machines without it)')
  .option(
    '--json',
    'print one JSON line {url, stateFile} when ready (and a one-time loginUrl if stdout is a terminal), and only warnings in the log',
  )
  .action(action(() => import('./commands/server.js'), 'serverCommand'));

program
  .command('web')
  .description('open the web app signed in as you (a one-time link: works once, for 10 minutes)')
  .argument('[task]', "open this task's page (id, unique prefix or name)")
  .addOption(serverOption())
  .option('--print', 'print the link instead of opening a browser')
  .option('--json', 'print {url, expiresAt} and open nothing')
  .addHelpText(
    'after',
    `
The link signs a browser in once, within 10 minutes, as the user this CLI is signed in as; it is
printed instead of opened when there is no display (no $DISPLAY or $BROWSER) or no terminal.
A browser already signed in as someone else asks before switching.

Examples:
  rclaude web                             the dashboard, in your browser
  rclaude web 3f2a                        a task's page
  rclaude web --print                     just the link (e.g. to open on another machine; over ssh)
  ssh server rclaude web --print          a link from the server's own admin, without a password`,
  )
  .action(action(() => import('./commands/web.js'), 'webCommand'));

program
  .command('login')
  .description('sign in to a server and save the token (mode 0600, in $XDG_CONFIG_HOME/rclaude)')
  .addOption(serverOption())
  .option('--token <token>', 'an API token (else you are asked for a username and password)')
  .option('--username <name>', 'username to sign in as')
  .action(action(() => import('./commands/login.js'), 'loginCommand'));

program
  .command('run')
  .description('start a task in a new sandbox and attach this terminal (default command: claude)')
  .argument('[command...]', 'program and arguments to run instead of claude (put them after --)')
  .addOption(serverOption())
  .option('--provider <name>', 'sandbox provider: local, docker, ecs or e2b (default: the server default)')
  .option('--repo <url>', 'git repository to clone into the workspace first')
  .option('--branch <name>', 'branch of --repo to check out')
  .option(
    '--push [branch]',
    'when the task ends, commit its changes to a new branch of --repo and push it (default: rclaude/<task id>)',
  )
  .option(
    '--pr',
    'when the program exits, push its changes (to the --push branch, default rclaude/<task id>) and open a GitHub pull request with your GITHUB_TOKEN',
  )
  .option('--github-repo <owner/name>', 'the GitHub repository for pull requests, when --repo is not a GitHub URL')
  .option(
    '--allow-host <host>',
    "let the sandbox reach this host (example.com, *.example.com, host:port) besides the server's allow-list; repeat for more",
    (host: string, hosts: string[] = []) => [...hosts, host],
  )
  .option('--name <name>', 'a name for the task')
  .option('-p, --prompt <prompt>', 'run Claude Code non-interactively on this prompt and stream its progress')
  .option('-d, --detach', 'start the task and print its id without attaching')
  .option('--detach-keys <keys>', 'key sequence that detaches and leaves the task running', DETACH_KEYS)
  .option('--json', 'with --detach: print the task as JSON; with -p: print its events as JSON lines')
  .option(
    '--here',
    "start from this directory's git working tree: committed, changed and untracked files (not ignored ones)",
  )
  .option('--continue', "with --here: continue this directory's newest Claude Code conversation in the sandbox")
  .addHelpText(
    'after',
    `
Examples:
  rclaude run                              Claude Code in a new, empty sandbox
  rclaude run --here                       Claude Code on this clone, uncommitted work included
  rclaude run --here --continue            ...and the conversation you had here with the local claude
  rclaude run --here -- npm test           run a command on this clone in a sandbox
See docs/moving-work.md.`,
  )
  .passThroughOptions()
  .action(action(() => import('./commands/run.js'), 'runCommand'));

program
  .command('attach')
  .description("attach this terminal to a task's main session (waking it if it hibernated)")
  .argument('<task>', 'task id (or a unique prefix, or its name)')
  .addOption(serverOption())
  .option('--read-only', 'watch without typing')
  .option('--session <id>', 'another session of the task (a shell from `rclaude shell`; id or unique prefix)')
  .option('--detach-keys <keys>', 'key sequence that detaches', DETACH_KEYS)
  .addHelpText(
    'after',
    `
A hibernated task is resumed from its latest checkpoint in a new sandbox, and attached once it is up.
For an ended task with a checkpoint, a terminal is asked whether to resume it; otherwise (and with
--read-only) its last screen is shown.`,
  )
  .action(action(() => import('./commands/tasks.js'), 'attachCommand'));

program
  .command('ls')
  .description('list your tasks')
  .addOption(serverOption())
  .option('--status <status>', 'only tasks in this status')
  .option('--all', "admins: every user's tasks")
  .option('--json', 'print JSON')
  .action(action(() => import('./commands/tasks.js'), 'lsCommand'));

program
  .command('logs')
  .description("print a task's terminal output")
  .argument('<task>', 'task id or prefix')
  .addOption(serverOption())
  .option('-f, --follow', 'keep printing until the task ends')
  .option('--session <id>', 'another session of the task (id or unique prefix; default: its main session)')
  .option('--cast', 'print the recording with its timing, as an asciicast v2 file (plays in any asciinema player)')
  .addHelpText(
    'after',
    `
Examples:
  rclaude logs 3f2a                          the main session's output
  rclaude logs 3f2a --cast > session.cast    its recording; \`asciinema play session.cast\` or \`rclaude play 3f2a\`
  rclaude logs 3f2a --session 3f2a_sh1       a shell's output`,
  )
  .action(action(() => import('./commands/tasks.js'), 'logsCommand'));

program
  .command('play')
  .description("replay a task's recorded terminal session here, with its timing")
  .argument('<task>', 'task id or prefix')
  .addOption(serverOption())
  .option('--session <id>', 'another session of the task (id or unique prefix; default: its main session)')
  .option('--speed <n>', 'playback speed (2 = twice as fast)', '1')
  .option('--idle-limit <seconds>', 'pauses longer than this are cut to it (default: 2)')
  .addHelpText(
    'after',
    `
Keys: space pauses and resumes, q or Ctrl-C stops.

Examples:
  rclaude play 3f2a
  rclaude play 3f2a --speed 4 --idle-limit 0.5`,
  )
  .action(action(() => import('./commands/recordings.js'), 'playCommand'));

program
  .command('shell')
  .description("open another terminal in a running task's sandbox (a login shell, or the given command)")
  .argument('<task>', 'task id or prefix')
  .argument('[command...]', 'program and arguments to run instead of a login shell (put them after --)')
  .addOption(serverOption())
  .option('--detach-keys <keys>', 'key sequence that detaches and leaves the shell running', DETACH_KEYS)
  .passThroughOptions()
  .addHelpText(
    'after',
    `
The shell is a session of its own beside the task's main one: recorded, and kept across network drops.
Exits with its program's exit code.

Examples:
  rclaude shell 3f2a                         a login shell in the task's workspace
  rclaude shell 3f2a -- npm test             run one command there, attached
  rclaude attach 3f2a --session 3f2a_…       back to a detached shell`,
  )
  .action(action(() => import('./commands/shell.js'), 'shellCommand'));

program
  .command('stop')
  .description('stop a task and its sandbox, after checkpointing its work')
  .argument('<task>', 'task id or prefix')
  .addOption(serverOption())
  .option('--force', 'stop even if the checkpoint fails (the work since the last checkpoint is then lost)')
  .option('--json', 'print the stopped task as JSON')
  .addHelpText(
    'after',
    `
The server checkpoints the task (workspace and Claude's conversation) before it stops the sandbox, so
\`rclaude resume\` can bring it back. If that checkpoint fails, the task is not stopped (exit 1) unless
--force is given. A hibernated task is stopped for good; its checkpoints stay.

Examples:
  rclaude stop 3f2a
  rclaude stop --force 3f2a                stop it even if its sandbox cannot be checkpointed`,
  )
  .action(action(() => import('./commands/tasks.js'), 'stopCommand'));

program
  .command('checkpoint')
  .description("checkpoint a running task's workspace and Claude conversation now")
  .argument('<task>', 'task id, unique prefix or name')
  .addOption(serverOption())
  .option('--json', 'print the checkpoint as JSON')
  .addHelpText(
    'after',
    `
Prints what was saved: \`cp_…: 1,234 files, 56 MB (uploaded 1.2 MB) in 0.4s\`; only files no earlier
checkpoint of yours had are uploaded. The server also checkpoints on its own: periodically, before an
idle task hibernates, and before a stop.

Examples:
  rclaude checkpoint 3f2a
  rclaude checkpoint 3f2a --json | jq -r .id`,
  )
  .action(action(() => import('./commands/checkpoints.js'), 'checkpointCommand'));

program
  .command('push')
  .description("commit a running task's changes to a branch and push it to the task's repository now")
  .argument('<task>', 'task id, unique prefix or name')
  .addOption(serverOption())
  .option('--branch <name>', "the branch (default: the task's --push branch, else rclaude/<task id>)")
  .option('--json', 'print what was pushed as JSON')
  .addHelpText(
    'after',
    `
The task keeps running: its agent commits the workspace as it is now (your working tree and index are left
alone) on top of the branch's last push, and the server pushes it, fast-forward only, with your stored
GITHUB_TOKEN (a repository on GitHub) or into the local repository (a path on the server). Push again later
to add more. A task without a sandbox must be resumed first (\`rclaude resume ID\`).

Examples:
  rclaude push 3f2a
  rclaude push 3f2a --branch fix/login --json`,
  )
  .action(action(() => import('./commands/pull-requests.js'), 'pushCommand'));

program
  .command('pr')
  .description("push a running task's changes and open a GitHub pull request for them")
  .argument('<task>', 'task id, unique prefix or name')
  .addOption(serverOption())
  .option('--title <title>', "the title (default: the prompt's first line, else the task's name)")
  .option('--draft', 'open it as a draft')
  .option('--base <branch>', 'the branch to merge into (default: the branch the task started from, else the default)')
  .option('--branch <name>', 'the branch to push (as for `rclaude push`)')
  .option('--github-repo <owner/name>', "the GitHub repository, when the task's --repo is not a GitHub URL")
  .option('--json', 'print the pull request as JSON')
  .addHelpText(
    'after',
    `
Pushes first (see \`rclaude push --help\`), then opens the pull request with your stored GITHUB_TOKEN
(\`rclaude secret set GITHUB_TOKEN\`): its body has the prompt, the result, the changes and a link to
the task. If one is already open for the branch, the new commits go to it and its URL is printed.

Examples:
  rclaude pr 3f2a
  rclaude pr 3f2a --draft --title "Fix the login redirect"
  rclaude pr 3f2a --json | jq -r .url`,
  )
  .action(action(() => import('./commands/pull-requests.js'), 'prCommand'));

program
  .command('checkpoints')
  .description("list a task's checkpoints, newest first")
  .argument('<task>', 'task id, unique prefix or name')
  .addOption(serverOption())
  .option('--json', 'print JSON')
  .action(action(() => import('./commands/checkpoints.js'), 'checkpointsCommand'));

program
  .command('approvals')
  .description("Claude Code's permission requests waiting for you (all your tasks), or one task's")
  .argument('[task]', 'task id, unique prefix or name (default: every pending approval of yours)')
  .addOption(serverOption())
  .option('--json', 'print JSON')
  .addHelpText(
    'after',
    `
When Claude Code would ask permission for a tool call (a Bash command, a file write...), the request
waits as an approval until you answer it here, in the web app or in the terminal, or it times out to deny
(RCLAUDE_APPROVAL_TIMEOUT_MS on the server, default 10 minutes).

Examples:
  rclaude approvals                       everything waiting for you
  rclaude approvals 3f2a                  one task's approvals, answered ones too
  rclaude approve ap_abcdefgh2345         let it run
  rclaude deny ap_abcdefgh2345 -m "use npm ci instead"`,
  )
  .action(action(() => import('./commands/approvals.js'), 'approvalsCommand'));

program
  .command('approve')
  .description('allow a pending approval: Claude Code runs the tool call')
  .argument('<approval>', 'approval id (ap_…, see `rclaude approvals`)')
  .addOption(serverOption())
  .option('-m, --message <text>', 'a note recorded with the answer')
  .option('--json', 'print the answered approval as JSON')
  .addHelpText('after', '\nExamples:\n  rclaude approve ap_abcdefgh2345')
  .action(action(() => import('./commands/approvals.js'), 'approveCommand'));

program
  .command('deny')
  .description('deny a pending approval: Claude Code does not run the tool call and is told why')
  .argument('<approval>', 'approval id (ap_…, see `rclaude approvals`)')
  .addOption(serverOption())
  .option('-m, --message <text>', 'what Claude is told (default: denied by you)')
  .option('--json', 'print the answered approval as JSON')
  .addHelpText('after', '\nExamples:\n  rclaude deny ap_abcdefgh2345 -m "do not touch the database"')
  .action(action(() => import('./commands/approvals.js'), 'denyCommand'));

program
  .command('resume')
  .description('resume a hibernated or ended task in a new sandbox from a checkpoint, and attach to it')
  .argument('<task>', 'task id, unique prefix or name')
  .addOption(serverOption())
  .option('--at <checkpoint>', 'the checkpoint to start from (cp_…, see `rclaude checkpoints`; default: the latest)')
  .option('-d, --detach', 'resume it and print its id without attaching')
  .option('--detach-keys <keys>', 'key sequence that detaches and leaves the task running', DETACH_KEYS)
  .option('--json', 'with --detach: print the task as JSON')
  .addHelpText(
    'after',
    `
The checkpoint's workspace is restored in a new sandbox, then the task's program starts again: Claude
Code continues its conversation (a finished prompt task continues interactively); any other program
runs again in the restored workspace. A running task is attached to instead.

Examples:
  rclaude resume 3f2a                      from its latest checkpoint, attached here
  rclaude resume 3f2a --at cp_k2m9x0q1ab   from an earlier one
  rclaude resume 3f2a --detach             in the background; \`rclaude attach 3f2a\` later`,
  )
  .action(action(() => import('./commands/checkpoints.js'), 'resumeCommand'));

program
  .command('pull')
  .description("bring a task's changes and its Claude Code conversation into a local clone")
  .argument('<task>', 'task id, unique prefix or name')
  .argument('[dir]', 'a clone of the same repository (default: this directory)')
  .addOption(serverOption())
  .option('--apply', 'put the changes in the working tree instead of on branch rclaude/<id>')
  .option('--allow-config', 'with --apply, also apply .claude/, .mcp.json, .envrc, .vscode/ and the like')
  .option('--json', 'print what was pulled as JSON')
  .addHelpText(
    'after',
    `
Reads the task's latest checkpoint (a running task is checkpointed first). Its workspace becomes one commit on
branch rclaude/<id> (on the sandbox's starting commit when your clone has it); --apply puts the changes in your
working tree instead, and refuses, changing nothing, when your uncommitted changes touch the same files, or when
the task changed files that tools here run by themselves (.claude/, .mcp.json, .envrc, ...; --allow-config). The
conversation goes into Claude Code's folder for the clone: 'claude --resume <id>' there continues it.

Examples:
  rclaude pull 3f2a                        branch rclaude/3f2a… in this clone, and the conversation
  rclaude pull 3f2a ~/src/app --apply      the changes as uncommitted edits in ~/src/app
See docs/moving-work.md.`,
  )
  .action(action(() => import('./commands/handoff.js'), 'pullCommand'));

program
  .command('sync')
  .description("keep a local folder and a running task's workspace in step, both ways")
  .argument('<task>', 'task id, unique prefix or name')
  .argument('[dir]', 'the local folder (default: this directory; made if missing)')
  .addOption(serverOption())
  .option('--once', 'reconcile once, then exit')
  .option('--json', 'one JSON object per line for each change, conflict and refusal')
  .option(
    '--exclude <pattern>',
    'leave out files matching a glob (a name like "*.log" at any depth, or a path like "build/**"); repeatable',
    (v: string, prev: string[] = []) => [...prev, v],
  )
  .addOption(
    new Option('--prefer <side>', 'settle files changed on both sides this way instead of keeping both').choices([
      'local',
      'remote',
    ]),
  )
  .addHelpText(
    'after',
    `
Changes on either side are copied to the other while it runs: a file edited here goes to the task, one the task
writes comes here, deletes and renames too. Synced: files with their exec bit (no other mode bit), symbolic
links as links (never followed), folders, empty ones too. Left out: .git, node_modules, what .gitignore says
when the folder is in a git work tree, --exclude patterns, owners, hard links and special files. Nothing is
replaced on either side unless it is still what sync last saw there: an edit made meanwhile is never lost. A file changed on both sides since the last sync keeps your
version under its name, and the task's version is written beside it as NAME.remote-<hash>.EXT (both sides end
with both). The first sync into a folder that already has files destroys nothing: files on one side only are
copied, files that differ are conflicts (or --prefer local|remote). Stops when the task stops or hibernates.

Examples:
  rclaude sync 3f2a ./work                 keep ./work and the task's workspace in step until Ctrl-C
  rclaude sync 3f2a . --once --json        reconcile once, print what changed as JSON lines
  rclaude sync 3f2a . --exclude '*.log'    leave log files out
See docs/moving-work.md.`,
  )
  .action(action(() => import('./commands/sync.js'), 'syncCommand'));

program
  .command('fork')
  .description("start new tasks from a task's latest checkpoint, each continuing its conversation")
  .argument('<task>', 'task id, unique prefix or name')
  .addOption(serverOption())
  .option('-n, --count <n>', 'how many forks (1 to 10)', '1')
  .option('-p, --prompt <prompt>', 'a new prompt each fork answers in the continued conversation')
  .option('--json', 'print the checkpoint and the new tasks as JSON')
  .addHelpText(
    'after',
    `
A running task is checkpointed first. Each fork gets its own sandbox with the checkpoint's workspace and
conversation; with -p, Claude Code answers the prompt there (claude -p --resume), else the task's program
resumes. Forks never push. The new task ids are printed one per line.

Examples:
  rclaude fork 3f2a -n 3 -p "try a different approach"
  rclaude fork 3f2a --json`,
  )
  .action(action(() => import('./commands/handoff.js'), 'forkCommand'));

program
  .command('keep')
  .description("restart a running task's idle clock, putting off its hibernation")
  .argument('<task>', 'task id, unique prefix or name')
  .addOption(serverOption())
  .option('--json', 'print {hibernateAt} as JSON')
  .addHelpText(
    'after',
    `
A task with no input, no output and no working Claude for the server's idle timeout hibernates: it is
checkpointed and its sandbox released (\`rclaude attach\` wakes it). A warning comes a minute before;
typing in an attached terminal keeps it too.`,
  )
  .action(action(() => import('./commands/checkpoints.js'), 'keepCommand'));

program
  .command('rm')
  .description('delete a task (stopping it first)')
  .argument('<task>', 'task id or prefix')
  .addOption(serverOption())
  .action(action(() => import('./commands/tasks.js'), 'rmCommand'));

program
  .command('exec')
  .description("run a command to completion in a task's sandbox")
  .argument('<task>', 'task id or prefix')
  .argument('[command...]', 'command and arguments (after --); one argument is run by sh -c')
  .addOption(serverOption())
  .option('--timeout <duration>', 'kill the command after this long (e.g. 30s, 5m; default 60s)')
  .option('--json', 'print {exitCode, stdout, stderr, ...} as JSON')
  .passThroughOptions()
  .action(action(() => import('./commands/tasks.js'), 'execCommand'));

program
  .command('cp')
  .description('copy files between this machine and a task workspace (TASK:PATH names the remote side)')
  .argument('<source>', 'local path or TASK:PATH')
  .argument('<dest>', 'local path or TASK:PATH')
  .addOption(serverOption())
  .action(action(() => import('./commands/cp.js'), 'cpCommand'));

const share = program
  .command('share')
  .description(
    'a link to a live task: read-only for anyone, or (--drive) for signed-in users to type once you accept them',
  )
  .argument('[task]', 'task id, unique prefix or name')
  .addOption(serverOption())
  .option('--expires <duration>', 'how long the link works: 30m, 2h, 3d (1m to 7d; default 24h)')
  .option('--drive', 'a co-drive link: signed-in users of this server open it and may ask to type')
  .option('--json', 'print {share, url} as JSON')
  .addHelpText(
    'after',
    `
The link is printed once (its secret is after the #); whoever opens it sees the task's terminal and
timeline live, with no account, and cannot type, resize, stop it or read its files. Revoking it or
its expiry cuts viewers off at once.

A --drive link is for users of this server only: they sign in, watch, and may ask to type. You see
each request (a line in \`rclaude attach\`, the web task page, \`rclaude share requests\`) and accept or
refuse it; an accepted user may type into the main terminal, nothing else, until you revoke them.

Examples:
  rclaude share 3f2a                      a link valid for 24 hours
  rclaude share 3f2a --expires 2h
  rclaude share 3f2a --drive              a co-drive link
  rclaude share requests 3f2a             who asked to type, and who may
  rclaude share accept dr_…               let them type (refuse / revoke likewise)
  rclaude share ls                        your links, with their state
  rclaude share rm sh_k3v9q2mzx8ab4c2d    revoke one (the ID column of \`rclaude share ls\`)`,
  )
  .action(action(() => import('./commands/share.js'), 'shareCommand'));

share
  .command('ls')
  .description('list the share links you created')
  .addOption(serverOption())
  .option('--task <task>', 'only the links of this task')
  .option('--json', 'print JSON')
  .action(action(() => import('./commands/share.js'), 'shareLsCommand'));

share
  .command('rm')
  .description('revoke a share link; its viewers are cut off at once')
  .argument('<id>', 'share link id (sh_…, from `rclaude share ls`)')
  .addOption(serverOption())
  .action(action(() => import('./commands/share.js'), 'shareRmCommand'));

share
  .command('requests')
  .description('requests to type into a task through its co-drive links: who asked, who may type now')
  .argument('<task>', 'task id, unique prefix or name')
  .addOption(serverOption())
  .option('--json', 'print JSON')
  .action(action(() => import('./commands/share.js'), 'shareRequestsCommand'));

for (const [decision, text] of [
  ['accept', 'let the user of a pending request type into the task (main terminal only)'],
  ['refuse', 'refuse a pending request to type'],
  ['revoke', 'take back the right to type from an accepted user; their next keystrokes are refused'],
] as const) {
  share
    .command(decision)
    .description(text)
    .argument('<request>', 'request id (dr_…, from `rclaude share requests`)')
    .addOption(serverOption())
    .option('--json', 'print the request as JSON')
    .action(
      action(
        () => import('./commands/share.js'),
        `share${decision[0]?.toUpperCase()}${decision.slice(1)}Command` as
          | 'shareAcceptCommand'
          | 'shareRefuseCommand'
          | 'shareRevokeCommand',
      ),
    );
}

program
  .command('ssh')
  .description("a shell in a task's sandbox over SSH (OpenSSH's ssh, through the rclaude server)")
  .argument('<task>', 'task id or prefix')
  .argument('[args...]', 'ssh options, then -- and a remote command')
  .addOption(serverOption())
  .option('--stdio', 'pipe stdin/stdout to the sandbox SSH server (an OpenSSH ProxyCommand)')
  .passThroughOptions()
  .addHelpText(
    'after',
    `
Examples:
  rclaude ssh 3f2a                         a login shell in the workspace
  rclaude ssh 3f2a -- 'make test'          run a command (exit code passed through)
  rclaude ssh 3f2a -L 5432:127.0.0.1:5432  ssh options go before --
  rclaude ssh-config 3f2a >> ~/.ssh/config then: ssh rclaude-<id>, scp, rsync, VS Code Remote-SSH
  ssh -o ProxyCommand='rclaude ssh --stdio %n' rclaude@3f2a

Authentication is your rclaude token; there are no keys to manage. The sandbox's host key is written to
a per-task known_hosts file under ~/.config/rclaude/ssh/ on each connection. See docs/ssh-and-ports.md.`,
  )
  .action(action(() => import('./commands/ssh.js'), 'sshCommand'));

program
  .command('ssh-config')
  .description('print a Host block for ~/.ssh/config that reaches a task (ssh, scp, rsync, VS Code)')
  .argument('<task>', 'task id or prefix')
  .addOption(serverOption())
  .addHelpText(
    'after',
    `
Example:
  rclaude ssh-config 3f2a >> ~/.ssh/config && ssh rclaude-<full id>`,
  )
  .action(action(() => import('./commands/ssh.js'), 'sshConfigCommand'));

program
  .command('port')
  .description("forward a port of a task's sandbox to this machine")
  .argument('<task>', 'task id or prefix')
  .argument('<port>', 'port on 127.0.0.1 inside the sandbox')
  .addOption(serverOption())
  .option('--local-port <n>', 'port to listen on here (default: the same; 0: any free one)')
  .option('--bind <address>', 'address to listen on here', '127.0.0.1')
  .option('--json', 'print {task, port, localPort, url} as JSON once listening')
  .addHelpText(
    'after',
    `
Examples:
  rclaude port 3f2a 3000                   http://127.0.0.1:3000/ reaches the sandbox's port 3000
  rclaude port 3f2a 8000 --local-port 0    any free local port (printed)

Each connection gets its own tunnel; Ctrl-C stops. For a browser link instead, use Ports on the task page.`,
  )
  .action(action(() => import('./commands/port.js'), 'portCommand'));

const secret = program
  .command('secret')
  .description(
    'your secrets, injected into your sandboxes as environment variables (ANTHROPIC_API_KEY and CLAUDE_CODE_OAUTH_TOKEN: into their model requests only; GITHUB_TOKEN, GIT_TOKEN: used by the server to clone, push and open pull requests, never in a sandbox)',
  )
  .addHelpText(
    'after',
    `
Examples:
  echo "$ANTHROPIC_API_KEY" | rclaude secret set ANTHROPIC_API_KEY
  rclaude secret set GITHUB_TOKEN         asks for the value without echo; the server clones, pushes
                                          and opens pull requests with it: it never enters a sandbox
  rclaude secret ls                       names only: values never leave the server
  rclaude secret rm GITHUB_TOKEN`,
  );

secret
  .command('set')
  .description('store a secret; the value is read from stdin, or asked for without echo in a terminal')
  .argument('<name>', 'environment variable name in capitals, e.g. ANTHROPIC_API_KEY')
  .addOption(serverOption())
  // Excess arguments reach the command, which refuses them with the reason instead of commander's usage error.
  .allowExcessArguments()
  .addHelpText(
    'after',
    `
The value is never taken as an argument: it would stay in your shell history and show in \`ps\`.
One trailing newline is dropped from stdin.

Examples:
  echo "$ANTHROPIC_API_KEY" | rclaude secret set ANTHROPIC_API_KEY
  rclaude secret set ANTHROPIC_API_KEY < key.txt`,
  )
  .action(action(() => import('./commands/account.js'), 'secretSetCommand'));

secret
  .command('ls')
  .description('list your secrets by name (never their values)')
  .addOption(serverOption())
  .option('--json', 'print JSON')
  .action(action(() => import('./commands/account.js'), 'secretLsCommand'));

secret
  .command('rm')
  .description('delete a secret')
  .argument('<name>', 'secret name')
  .addOption(serverOption())
  .action(action(() => import('./commands/account.js'), 'secretRmCommand'));

const allowHost = program
  .command('allow-host')
  .description("hosts your tasks' sandboxes may reach besides the server's egress allow-list")
  .addHelpText(
    'after',
    `
A sandbox reaches the network only through the server's egress proxy, which lets through the server's
allow-list (source hosting and package registries by default), a task's own \`rclaude run --allow-host\`, and
the hosts you add here, for every task of yours. An entry is a host name or a *.pattern (its subdomains), with
an optional :port (without one, ports 80 and 443). Addresses and ranges are refused: only an admin opens those
(RCLAUDE_EGRESS_ALLOW). Names still resolve to public addresses only. A change applies to the next connection a
sandbox opens, running tasks included.

Examples:
  rclaude allow-host add registry.example.com
  rclaude allow-host add '*.corp.example.com' git.example.com:8443
  rclaude allow-host ls
  rclaude allow-host rm registry.example.com`,
  );

allowHost
  .command('ls')
  .description('list the hosts you added')
  .addOption(serverOption())
  .option('--json', 'print JSON')
  .action(action(() => import('./commands/account.js'), 'allowHostLsCommand'));

allowHost
  .command('add')
  .description('allow hosts for all your tasks: names or *.patterns, each with an optional :port')
  .argument('<host...>', "e.g. registry.example.com, '*.example.com', git.example.com:8443")
  .addOption(serverOption())
  .option('--json', 'print the added entries as JSON')
  .action(action(() => import('./commands/account.js'), 'allowHostAddCommand'));

allowHost
  .command('rm')
  .description('remove hosts you added')
  .argument('<host...>', 'as listed by `rclaude allow-host ls`')
  .addOption(serverOption())
  .action(action(() => import('./commands/account.js'), 'allowHostRmCommand'));

const token = program
  .command('token')
  .description('your API tokens, for scripts and CI (RCLAUDE_TOKEN)')
  .addHelpText(
    'after',
    `
Examples:
  rclaude token create ci                 prints the token once; store it now
  RCLAUDE_TOKEN=$(rclaude token create ci) some-script
  rclaude token ls
  rclaude token revoke k3v9q2mzx8ab       the ID column of \`rclaude token ls\``,
  );

token
  .command('ls')
  .description('list your API tokens (their prefixes, never the tokens)')
  .addOption(serverOption())
  .option('--json', 'print JSON')
  .action(action(() => import('./commands/account.js'), 'tokenLsCommand'));

token
  .command('create')
  .description('create an API token and print it to stdout; it is shown only this once')
  .argument('<name>', 'what the token is for, e.g. ci')
  .addOption(serverOption())
  .option('--json', 'print {token, info} as JSON')
  .action(action(() => import('./commands/account.js'), 'tokenCreateCommand'));

token
  .command('revoke')
  .description('revoke an API token')
  .argument('<id>', 'token id (from `rclaude token ls`)')
  .addOption(serverOption())
  .action(action(() => import('./commands/account.js'), 'tokenRevokeCommand'));

const user = program
  .command('user')
  .description('users of the server (listing and adding: admins only)')
  .addHelpText(
    'after',
    `
Examples:
  rclaude user ls
  rclaude user add alice                  asks for her password without echo (or reads it from stdin)
  rclaude user add carol --admin
  rclaude user passwd                     change your own password
  rclaude user passwd alice               admins: set anyone's`,
  );

user
  .command('ls')
  .description('list users (admins)')
  .addOption(serverOption())
  .option('--json', 'print JSON')
  .action(action(() => import('./commands/account.js'), 'userLsCommand'));

user
  .command('add')
  .description('add a user (admins); the password is read from stdin, or asked for without echo in a terminal')
  .argument('<username>', '2 to 32 lowercase letters, digits, _ or -, starting with a letter')
  .addOption(serverOption())
  .option('--admin', 'make the user an admin')
  .option('--json', 'print the new user as JSON')
  .action(action(() => import('./commands/account.js'), 'userAddCommand'));

user
  .command('passwd')
  .description("set a password: your own, or (admins) anyone's; read from stdin, or asked for without echo")
  .argument('[username]', 'whose password (default: yours)')
  .addOption(serverOption())
  .action(action(() => import('./commands/account.js'), 'userPasswdCommand'));

await program.parseAsync(process.argv);
