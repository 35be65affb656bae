// Package compat is the Python-facing surface for teams porting an operator
// from the Python client's kubernetes.leaderelection package: constructors
// with Python's names, argument order and units (seconds as float64), so
// that each Python call has a one-line Go twin. It owns exactly three
// functions — Config, ConfigMapLock and LeaderElection — and no behaviour of
// its own: each converts its arguments and calls config, configmaplock or
// electionloop.
//
// The Python example
//
//	config = electionconfig.Config(ConfigMapLock(name, ns, id), lease_duration=17,
//	    renew_deadline=15, retry_period=5, onstarted_leading=f, onstopped_leading=None)
//	leaderelection.LeaderElection(config).run()
//
// becomes
//
//	cfg, err := compat.Config(compat.ConfigMapLock(client, name, ns, id), 17, 15, 5, f, nil)
//	le, err := compat.LeaderElection(cfg)
//	err = le.Run(ctx)
//
// Three differences are deliberate: Go has no global client, so
// ConfigMapLock takes one first; onstarted_leading receives a context that is
// cancelled when leadership is lost (Python never stops the leader's work);
// and errors are returned where Python calls sys.exit.
//
// Every Python name and its Go counterpart:
//
//	Python (kubernetes.leaderelection)                 Go
//	electionconfig.Config(lock, lease_duration,        compat.Config, giving config.Config{Lock,
//	  renew_deadline, retry_period,                      LeaseDuration, RenewDeadline, RetryPeriod,
//	  onstarted_leading, onstopped_leading)              Callbacks{OnStartedLeading, OnStoppedLeading}}
//	Config.jitter_factor                               config.JitterFactor
//	Config.on_stoppedleading_callback                  the default when OnStoppedLeading is nil
//	ConfigMapLock(name, namespace, identity)           compat.ConfigMapLock, giving configmaplock.New(
//	                                                     client, configmaplock.Options{Namespace, Name, Identity})
//	ConfigMapLock.get(name, namespace)                 configmaplock.Lock.Get(ctx)
//	ConfigMapLock.create(name, namespace, record)      configmaplock.Lock.Create(ctx, rec)
//	ConfigMapLock.update(name, namespace, record)      configmaplock.Lock.Update(ctx, rec)
//	ConfigMapLock.leader_electionrecord_annotationkey  record.AnnotationKey
//	ConfigMapLock.get_lock_dict + json.dumps           record.Python.Encode
//	ConfigMapLock.get_lock_object(json.loads(...))     record.Decode
//	LeaderElectionRecord(holder_identity,              record.Record{HolderIdentity,
//	  lease_duration, acquire_time, renew_time)          LeaseDuration, AcquireTime, RenewTime}
//	LeaderElection(config)                             compat.LeaderElection, giving electionloop.New(cfg)
//	LeaderElection.run()                               electionloop.Elector.Run(ctx)
//	LeaderElection.observed_record.holder_identity     electionloop.Elector.GetLeader()
//	(none)                                             Elector.IsLeader(), Callbacks.OnNewLeader,
//	                                                     Config.ReleaseOnCancel, Config.Clock
package compat
