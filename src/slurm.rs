//! Running one experiment as a Slurm job array: one shard per array task (each on its own GPU,
//! resumable when Slurm requeues it) and a merge job that runs when every shard succeeded.
//! The same shard and merge commands work by hand or under any other batch system.

use std::path::{Path, PathBuf};
use std::process::Command;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum SlurmError {
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "`{command}` could not be started ({source}); is Slurm installed and on PATH on this machine?"
    )]
    Missing {
        command: String,
        source: std::io::Error,
    },
    #[error("`{command}` failed: {stderr}")]
    Failed { command: String, stderr: String },
    #[error(
        "array job {array_job_id} was submitted but its merge job was not ({cause}); cancel it with `scancel {array_job_id}` and submit again"
    )]
    MergeNotSubmitted {
        array_job_id: String,
        cause: Box<SlurmError>,
    },
    #[error("{0}")]
    Invalid(String),
}

/// What to submit.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ArrayJob {
    /// The `panic-tda` binary the jobs run (an absolute path on the cluster's shared filesystem).
    pub binary: PathBuf,
    /// The experiment config (absolute path).
    pub config: PathBuf,
    /// Where shard databases, logs and the merged database go (shared filesystem).
    pub dir: PathBuf,
    pub shards: u32,
    pub partition: Option<String>,
    pub gres: Option<String>,
    pub time: Option<String>,
    /// Extra `#SBATCH` lines, e.g. `--account=abc`.
    pub extra: Vec<String>,
}

/// Job ids of a submission, kept in `DIR/slurm-job.json` for `slurm status`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Submission {
    pub job: ArrayJob,
    pub array_job_id: String,
    pub merge_job_id: String,
}

impl ArrayJob {
    pub fn shard_database(&self, index: u32) -> PathBuf {
        self.dir.join(format!("shard_{index}.sqlite"))
    }

    pub fn merged_database(&self) -> PathBuf {
        self.dir.join("merged.sqlite")
    }

    fn directives(&self) -> String {
        let mut lines = Vec::new();
        if let Some(partition) = &self.partition {
            lines.push(format!("#SBATCH --partition={partition}"));
        }
        if let Some(gres) = &self.gres {
            lines.push(format!("#SBATCH --gres={gres}"));
        }
        if let Some(time) = &self.time {
            lines.push(format!("#SBATCH --time={time}"));
        }
        for extra in &self.extra {
            lines.push(format!("#SBATCH {extra}"));
        }
        lines.join("\n")
    }

    /// The array script: task I runs shard I/N into its own database. `experiment run --shard`
    /// finds an existing shard database and resumes it, so a requeued task continues; its log
    /// is appended to, keeping what the earlier attempt printed.
    pub fn array_script(&self) -> String {
        format!(
            "#!/bin/bash\n#SBATCH --job-name=panic-tda\n#SBATCH --array=0-{last}\n#SBATCH --requeue\n#SBATCH --open-mode=append\n#SBATCH --output={logs}/shard_%a.log\n{directives}\nset -euo pipefail\nexec {binary} experiment run {config} --shard \"$SLURM_ARRAY_TASK_ID/{count}\" --db {dir}/shard_\"$SLURM_ARRAY_TASK_ID\".sqlite\n",
            last = self.shards.saturating_sub(1),
            logs = shell_path(&self.dir.join("logs")),
            directives = self.directives(),
            binary = shell_path(&self.binary),
            config = shell_path(&self.config),
            count = self.shards,
            dir = shell_path(&self.dir),
        )
    }

    /// The merge script, run after every array task succeeded.
    pub fn merge_script(&self) -> String {
        let shards: Vec<String> = (0..self.shards)
            .map(|index| shell_path(&self.shard_database(index)))
            .collect();
        format!(
            "#!/bin/bash\n#SBATCH --job-name=panic-tda-merge\n#SBATCH --output={logs}/merge.log\n{directives}\nset -euo pipefail\nexec {binary} db merge {merged} {shards}\n",
            logs = shell_path(&self.dir.join("logs")),
            directives = self
                .directives()
                .lines()
                .filter(|line| !line.contains("--gres"))
                .collect::<Vec<_>>()
                .join("\n"),
            binary = shell_path(&self.binary),
            merged = shell_path(&self.merged_database()),
            shards = shards.join(" "),
        )
    }

    /// Writes both scripts into `dir`; returns their paths.
    pub fn write_scripts(&self) -> Result<(PathBuf, PathBuf), SlurmError> {
        if self.shards == 0 {
            return Err(SlurmError::Invalid("--shards must be at least 1".into()));
        }
        let logs = self.dir.join("logs");
        std::fs::create_dir_all(&logs).map_err(|source| SlurmError::Write {
            path: logs.clone(),
            source,
        })?;
        let array = self.dir.join("panic-tda-array.sbatch");
        let merge = self.dir.join("panic-tda-merge.sbatch");
        for (path, text) in [(&array, self.array_script()), (&merge, self.merge_script())] {
            std::fs::write(path, text).map_err(|source| SlurmError::Write {
                path: path.clone(),
                source,
            })?;
        }
        Ok((array, merge))
    }

    /// Writes the scripts and submits the array and the dependent merge job.
    pub fn submit(&self) -> Result<Submission, SlurmError> {
        let (array, merge) = self.write_scripts()?;
        let array_job_id = sbatch(&[array.as_os_str()])?;
        let dependency = format!("--dependency=afterok:{array_job_id}");
        let merge_job_id = sbatch(&[std::ffi::OsStr::new(&dependency), merge.as_os_str()])
            .map_err(|cause| SlurmError::MergeNotSubmitted {
                array_job_id: array_job_id.clone(),
                cause: Box::new(cause),
            })?;
        let submission = Submission {
            job: self.clone(),
            array_job_id,
            merge_job_id,
        };
        let record = self.dir.join("slurm-job.json");
        let json = serde_json::to_string_pretty(&submission)
            .map_err(|e| SlurmError::Invalid(e.to_string()))?;
        std::fs::write(&record, json).map_err(|source| SlurmError::Write {
            path: record,
            source,
        })?;
        Ok(submission)
    }
}

fn shell_path(path: &Path) -> String {
    let text = path.to_string_lossy();
    if text
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+=:,@".contains(c))
    {
        text.into_owned()
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}

fn sbatch(args: &[&std::ffi::OsStr]) -> Result<String, SlurmError> {
    let output = Command::new("sbatch")
        .arg("--parsable")
        .args(args)
        .output()
        .map_err(|source| SlurmError::Missing {
            command: "sbatch".into(),
            source,
        })?;
    if !output.status.success() {
        return Err(SlurmError::Failed {
            command: "sbatch".into(),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        });
    }
    // `--parsable` prints "jobid" or "jobid;cluster".
    let stdout = String::from_utf8_lossy(&output.stdout);
    let id = stdout
        .trim()
        .split(';')
        .next()
        .unwrap_or_default()
        .to_owned();
    if id.is_empty() {
        return Err(SlurmError::Failed {
            command: "sbatch".into(),
            stderr: "printed no job id".into(),
        });
    }
    Ok(id)
}

/// One line of `slurm status`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TaskState {
    pub job_id: String,
    pub state: String,
}

/// Reads the submission record of `dir`.
pub fn load_submission(dir: &Path) -> Result<Submission, SlurmError> {
    let path = dir.join("slurm-job.json");
    let text = std::fs::read_to_string(&path).map_err(|source| SlurmError::Read {
        path: path.clone(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|e| SlurmError::Invalid(format!("{}: {e}", path.display())))
}

/// States of the array's tasks and the merge job: from `sacct` (finished and running jobs), or,
/// where the cluster keeps no accounting (no slurmdbd), from `squeue`, which knows the jobs the
/// controller still remembers (`MinJobAge` after they end).
pub fn job_states(submission: &Submission) -> Result<Vec<TaskState>, SlurmError> {
    let jobs = format!("{},{}", submission.array_job_id, submission.merge_job_id);
    let sacct = run_query(
        "sacct",
        &[
            "--noheader",
            "--parsable2",
            "--format=JobID,State",
            "--jobs",
            &jobs,
        ],
    );
    match sacct {
        Ok(text) => Ok(parse_states(&text)),
        Err(sacct_error) => {
            let jobs = format!("--jobs={jobs}");
            run_query(
                "squeue",
                &[
                    "--noheader",
                    "--states=all",
                    "--array",
                    "--format=%i|%T",
                    &jobs,
                ],
            )
            .map(|text| parse_states(&text))
            .map_err(|_| sacct_error)
        }
    }
}

fn run_query(command: &str, args: &[&str]) -> Result<String, SlurmError> {
    let output = Command::new(command)
        .args(args)
        .output()
        .map_err(|source| SlurmError::Missing {
            command: command.into(),
            source,
        })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr).trim().to_owned();
        // sacct says "Slurm accounting storage is disabled" on stdout.
        let stdout = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        return Err(SlurmError::Failed {
            command: command.into(),
            stderr: if stderr.is_empty() { stdout } else { stderr },
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// `JobID|State` lines (sacct `--parsable2`, squeue `%i|%T`) without job steps (`123_0.batch`).
fn parse_states(text: &str) -> Vec<TaskState> {
    text.lines()
        .filter_map(|line| line.trim().split_once('|'))
        .filter(|(id, _)| !id.contains('.'))
        .map(|(id, state)| TaskState {
            job_id: id.to_owned(),
            state: state.trim().to_owned(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job() -> ArrayJob {
        ArrayJob {
            binary: "/opt/panic-tda/bin/panic-tda".into(),
            config: "/scratch/exp/config.json".into(),
            dir: "/scratch/exp/run 1".into(),
            shards: 3,
            partition: Some("gpu".into()),
            gres: Some("gpu:1".into()),
            time: Some("24:00:00".into()),
            extra: vec!["--account=abc".into()],
        }
    }

    #[test]
    fn the_array_script_runs_one_resumable_shard_per_task() {
        let script = job().array_script();
        assert!(script.contains("#SBATCH --array=0-2"), "{script}");
        assert!(script.contains("#SBATCH --requeue"));
        assert!(script.contains("#SBATCH --open-mode=append"));
        assert!(script.contains("#SBATCH --gres=gpu:1"));
        assert!(script.contains("#SBATCH --account=abc"));
        assert!(
            script.contains("--shard \"$SLURM_ARRAY_TASK_ID/3\""),
            "{script}"
        );
        assert!(
            script.contains("--db '/scratch/exp/run 1'/shard_\"$SLURM_ARRAY_TASK_ID\".sqlite"),
            "{script}"
        );
    }

    #[test]
    fn job_states_are_read_from_sacct_and_squeue_output_without_steps() {
        let sacct = "17_0|COMPLETED\n17_0.batch|COMPLETED\n17_1|RUNNING\n18|PENDING\n";
        let squeue = "17_0|COMPLETED\n17_1|RUNNING\n18|PENDING\n";
        for text in [sacct, squeue] {
            let states: Vec<(String, String)> = parse_states(text)
                .into_iter()
                .map(|task| (task.job_id, task.state))
                .collect();
            assert_eq!(
                states,
                [
                    ("17_0".to_owned(), "COMPLETED".to_owned()),
                    ("17_1".to_owned(), "RUNNING".to_owned()),
                    ("18".to_owned(), "PENDING".to_owned()),
                ]
            );
        }
        assert!(parse_states("").is_empty());
    }

    #[test]
    fn the_merge_script_lists_every_shard_and_needs_no_gpu() {
        let script = job().merge_script();
        assert!(
            script.contains("db merge '/scratch/exp/run 1/merged.sqlite'"),
            "{script}"
        );
        for index in 0..3 {
            assert!(script.contains(&format!("shard_{index}.sqlite")));
        }
        assert!(!script.contains("--gres"));
    }
}
