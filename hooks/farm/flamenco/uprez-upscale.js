// uprez for Flamenco 3: a job type that upscales one movie.
//
// Install: copy this file into the `scripts` folder next to the `flamenco-manager` executable
// (create the folder if it is missing), then restart the Manager or refresh its job types.
// Submit a job of type "uprez-upscale" with the setting `movie` (and `output_folder`, an
// existing folder, when the result should not go beside the movie).
//
// The task runs `uprez upscale --json --output FOLDER/ -- MOVIE` with Flamenco's `exec`
// command: the program and its arguments are passed as a list, with no shell, so spaces,
// quotes, `;` or `$()` in a path are only characters of that path. The Manager still expands
// its variables (`{name}`) in each argument, which is how two-way variables map the paths for
// each Worker's platform.
//
// Retries: Flamenco fails a task on any non-zero exit. A Worker gets one try at a task, and the
// Manager's `task_fail_after_softfail_count` (flamenco-manager.yaml, default 3) says how many
// Workers may fail it before the task fails; a job has no limit of its own, and no exit code is
// treated apart. Exit 5 (the service failed) resumes the upscale at no new cost on the next
// Worker; 2, 3, 4 or 6 fail again at once without cost: read the task log instead.
//
// Keep to what Flamenco's JavaScript engine (goja) and the tests' parser both read: ES2017.

// The uprez command on the Workers. "{uprez}" would use a Manager variable of that name,
// with a value for each platform.
const UPREZ_EXECUTABLE = "uprez";

// Workers run the task types they are configured for; "misc" is in every default list. A
// task type of its own (e.g. "uprez") keeps the upscale on the machines that have uprez.
const UPREZ_TASK_TYPE = "misc";

const JOB_TYPE = {
  label: "uprez upscale",
  description: "Upscale a movie to 4K with uprez",
  settings: [
    {
      key: "movie",
      type: "string",
      subtype: "file_path",
      required: true,
      description: "The movie to upscale (an image sequence is refused)",
    },
    {
      key: "output_folder",
      type: "string",
      subtype: "dir_path",
      required: false,
      description: "An existing folder for the result; empty: the movie's own folder",
    },
  ],
};

// Frame-number placeholders: such a file name is an image sequence, not a movie.
const FRAME_PADDING = /#+|%0?\d*d|\$F\d*/;

function compileJob(job) {
  const settings = job.settings;
  const movie = String(settings.movie || "").trim();
  if (!movie) {
    throw "uprez-upscale: the 'movie' setting is empty";
  }
  if (FRAME_PADDING.test(path.basename(movie))) {
    throw `uprez-upscale: ${movie} is an image sequence; uprez upscales movies`;
  }
  const folder = String(settings.output_folder || "").trim() || path.dirname(movie);

  const task = author.Task("upscale", UPREZ_TASK_TYPE);
  task.addCommand(
    author.Command("exec", {
      exe: UPREZ_EXECUTABLE,
      args: uprezArguments(movie, folder),
    }),
  );
  job.addTask(task);
}

// uprez's arguments; `--` ends the options, so a movie is never read as one. The trailing
// separator tells uprez the output is a folder (that must exist).
function uprezArguments(movie, folder) {
  const separator = folder.indexOf("\\") >= 0 && folder.indexOf("/") < 0 ? "\\" : "/";
  const dir = folder.endsWith("/") || folder.endsWith("\\") ? folder : folder + separator;
  return ["upscale", "--json", "--output", dir, "--", movie];
}
